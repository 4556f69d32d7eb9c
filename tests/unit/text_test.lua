-- text.sanitize with gumbo: the allowlist, and visible-character counts
-- in code points with tags not counted.
local text = require "text"

local T = {}

local function eq(a, b, what)
  if a ~= b then error(string.format("%s: got %s, expected %s", what, tostring(a), tostring(b)), 2) end
end

function T.scripts_handlers_and_urls_go()
  local clean = text.sanitize('<p onclick="x()">a<script>alert(1)</script>'
    .. '<a href="javascript:alert(1)">b</a><a href="https://e.cn/?q=1&x=2">c</a></p>'
    .. '<style>p{display:none}</style><iframe src="//x"></iframe>')
  eq(clean, '<p>a<a>b</a><a href="https://e.cn/?q=1&amp;x=2" rel="noopener noreferrer">c</a></p>', "clean")
end

function T.styles_that_hide_content_go()
  eq((text.sanitize('<p style="display:none">x</p>')), "<p>x</p>", "display none")
  eq((text.sanitize('<span style="color:#fff;font-size:0">x</span>')), "<span>x</span>", "hidden")
  eq((text.sanitize('<p style="text-align: center">x</p>')), '<p style="text-align: center;">x</p>', "align kept")
end

function T.counts_code_points_not_tags()
  local _, n = text.sanitize("<p>师资<strong>情况</strong></p>")
  eq(n, 4, "chinese")
  local _, m = text.sanitize("<p>a &amp; b</p>")
  eq(m, 5, "entity counts as one")
  local _, e = text.sanitize("")
  eq(e, 0, "empty")
end

function T.unknown_tags_unwrap_and_text_escapes()
  eq((text.sanitize("<custom>1 < 2</custom>")), "1 &lt; 2", "unwrap and escape")
  eq((text.sanitize("<p>x")), "<p>x</p>", "closed")
end

function T.invalid_utf8_raises()
  local ok = pcall(text.sanitize, "\255\254")
  eq(ok, false, "invalid utf-8")
  eq(text.ulen("师资"), 2, "ulen")
  eq(text.ulen("\255"), nil, "ulen invalid")
end

return T
