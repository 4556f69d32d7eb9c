-- 002 (issue 13): attachments of declarations (证明材料) and notices (通知公告).

-- The files themselves live here, with the data they prove, so that a copy
-- or backup of the database holds them too.
CREATE TABLE attachments (
  id INTEGER PRIMARY KEY,
  declaration_id INTEGER NOT NULL REFERENCES declarations(id) ON DELETE CASCADE,
  name TEXT NOT NULL,                               -- the file name the school gave
  type TEXT NOT NULL CHECK (type IN ('application/pdf', 'image/jpeg', 'image/png')),
  size INTEGER NOT NULL CHECK (size > 0),
  sha256 TEXT NOT NULL,
  data BLOB NOT NULL,
  created_by INTEGER REFERENCES accounts(id),
  created_at INTEGER NOT NULL
);
CREATE INDEX attachments_declaration ON attachments(declaration_id);

-- A province's notices for its schools; province_code NULL: national (ops).
CREATE TABLE notices (
  id INTEGER PRIMARY KEY,
  province_code TEXT REFERENCES provinces(code),
  title TEXT NOT NULL,
  body TEXT NOT NULL,                               -- sanitized HTML
  pinned INTEGER NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1)),
  created_by INTEGER REFERENCES accounts(id),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX notices_province ON notices(province_code, pinned, created_at);
