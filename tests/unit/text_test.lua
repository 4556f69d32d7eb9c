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

-- 2026-11-28: deep nesting cost gumbo memory and time with the square of
-- the depth (20,000 levels took 3 GB); the markup is bounded first.
function T.deep_nesting_is_refused_up_front()
  local ok, err = pcall(text.sanitize, string.rep("<div>", 5000))
  eq(ok, false, "5000 tags refused")
  assert(tostring(err):find("too much markup"), tostring(err))
  local fine = pcall(text.sanitize, string.rep("<div>", 3000))
  eq(fine, true, "3000 tags still parse")
  eq((pcall(text.sanitize, string.rep("x", 300 * 1024))), false, "over 256 KiB refused")
end

-- 2026-11-28: overlong forms, surrogates and code points past U+10FFFF
-- passed as UTF-8.
function T.utf8_is_strict()
  eq(text.ulen("\xC0\xAF"), nil, "overlong")
  eq(text.ulen("\xED\xA0\x80"), nil, "surrogate")
  eq(text.ulen("\xF7\xBF\xBF\xBF"), nil, "beyond U+10FFFF")
  eq(text.ulen("\xE5\xB8"), nil, "truncated")
  eq(text.ulen("师资😀"), 3, "valid")
end

return T
