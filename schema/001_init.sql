-- 001: the whole domain of the pilot-declaration module.
-- Times are integer Unix seconds (UTC); the API shows them in Beijing time.

CREATE TABLE provinces (
  code TEXT PRIMARY KEY CHECK (length(code) = 2),   -- GB/T 2260, e.g. '13'
  name TEXT NOT NULL
);

CREATE TABLE cities (
  code TEXT PRIMARY KEY CHECK (length(code) = 4),   -- e.g. '1301'
  province_code TEXT NOT NULL REFERENCES provinces(code),
  name TEXT NOT NULL
);
CREATE INDEX cities_province ON cities(province_code);

-- 院校总库: the school master list kept by provinces, cities and ops.
CREATE TABLE schools (
  id INTEGER PRIMARY KEY,
  code TEXT NOT NULL UNIQUE CHECK (length(code) = 10 AND code NOT GLOB '*[^0-9]*'),
  name TEXT NOT NULL,
  province_code TEXT NOT NULL REFERENCES provinces(code),
  city_code TEXT REFERENCES cities(code),
  type TEXT NOT NULL CHECK (type IN ('本科', '高职', '中职', '技工')),
  authority TEXT,                                   -- 主管部门
  ownership TEXT,                                   -- 公办/其他, 民办
  active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX schools_city ON schools(city_code);
CREATE INDEX schools_province ON schools(province_code);

-- 完善院校基础信息: what the school itself keeps.
CREATE TABLE school_profiles (
  school_id INTEGER PRIMARY KEY REFERENCES schools(id),
  address TEXT,
  postcode TEXT,
  contact_name TEXT,
  contact_phone TEXT,
  contact_email TEXT,
  website TEXT,
  intro TEXT,
  updated_at INTEGER NOT NULL
);

CREATE TABLE accounts (
  id INTEGER PRIMARY KEY,
  username TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('school', 'city', 'province', 'ops')),
  province_code TEXT REFERENCES provinces(code),
  city_code TEXT REFERENCES cities(code),
  school_id INTEGER UNIQUE REFERENCES schools(id),  -- one account per school
  phone TEXT,
  must_change_password INTEGER NOT NULL DEFAULT 0,
  failed_logins INTEGER NOT NULL DEFAULT 0,
  locked_until INTEGER,
  active INTEGER NOT NULL DEFAULT 1,
  created_at INTEGER NOT NULL,
  last_login_at INTEGER,
  CHECK (role <> 'school' OR school_id IS NOT NULL),
  CHECK (role <> 'city' OR city_code IS NOT NULL),
  CHECK (role <> 'province' OR province_code IS NOT NULL)
);

CREATE TABLE sessions (
  id_hash TEXT PRIMARY KEY,                         -- SHA-256 of the cookie
  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  csrf_token TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_account ON sessions(account_id);

CREATE TABLE api_tokens (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  token_hash TEXT NOT NULL UNIQUE,                  -- SHA-256 of the token
  created_at INTEGER NOT NULL,
  last_used_at INTEGER,
  revoked INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE sms_outbox (
  id INTEGER PRIMARY KEY,
  phone TEXT NOT NULL,
  template TEXT NOT NULL,
  params TEXT NOT NULL,                             -- JSON object
  text TEXT NOT NULL,
  driver TEXT NOT NULL DEFAULT 'outbox',
  status TEXT NOT NULL DEFAULT 'queued',
  created_at INTEGER NOT NULL
);
CREATE INDEX sms_phone ON sms_outbox(phone, created_at);

CREATE TABLE password_resets (
  id INTEGER PRIMARY KEY,
  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  code_hash TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at INTEGER
);

-- Throttling of logins and SMS: one row per event, pruned as it ages.
CREATE TABLE rate_events (
  key TEXT NOT NULL,
  at INTEGER NOT NULL
);
CREATE INDEX rate_events_key ON rate_events(key, at);

-- 培训评价组织
CREATE TABLE organizations (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL
);

CREATE TABLE majors (
  code TEXT PRIMARY KEY,                            -- 专业代码, may end in K
  name TEXT NOT NULL,
  level TEXT NOT NULL CHECK (level IN ('中职', '高职专科', '职业本科')),
  category_code TEXT,
  category_name TEXT,
  class_code TEXT,
  class_name TEXT,
  active INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE certificates (
  id INTEGER PRIMARY KEY,
  code TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  level TEXT NOT NULL CHECK (level IN ('初级', '中级', '高级')),
  organization_id INTEGER NOT NULL REFERENCES organizations(id),
  batch INTEGER,
  active INTEGER NOT NULL DEFAULT 1,
  UNIQUE (name, level)
);

CREATE TABLE certificate_majors (
  certificate_id INTEGER NOT NULL REFERENCES certificates(id) ON DELETE CASCADE,
  major_code TEXT NOT NULL REFERENCES majors(code),
  PRIMARY KEY (certificate_id, major_code)
);

-- 证书申报计划, published by a province.
CREATE TABLE plans (
  id INTEGER PRIMARY KEY,
  province_code TEXT NOT NULL REFERENCES provinces(code),
  year INTEGER NOT NULL CHECK (year BETWEEN 2019 AND 2100),
  batch INTEGER NOT NULL CHECK (batch BETWEEN 1 AND 99),
  title TEXT NOT NULL,
  mode TEXT NOT NULL CHECK (mode IN ('by_major', 'not_by_major')),
  starts_at INTEGER NOT NULL,
  ends_at INTEGER NOT NULL,
  notes TEXT,
  status TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published')),
  published_at INTEGER,
  created_by INTEGER REFERENCES accounts(id),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  CHECK (ends_at > starts_at)
);
CREATE INDEX plans_province ON plans(province_code, status);

CREATE TABLE declarations (
  id INTEGER PRIMARY KEY,
  school_id INTEGER NOT NULL REFERENCES schools(id),
  plan_id INTEGER NOT NULL REFERENCES plans(id),
  certificate_id INTEGER NOT NULL REFERENCES certificates(id),
  status TEXT NOT NULL CHECK (status IN ('draft', 'pending', 'approved', 'rejected', 'returned')),
  review_level TEXT,                                -- 'city' | 'province' while pending
  review_chain TEXT,                                -- JSON list fixed at submission
  mode TEXT NOT NULL CHECK (mode IN ('by_major', 'not_by_major')),
  trainees_total INTEGER CHECK (trainees_total >= 0),
  faculty TEXT,                                     -- sanitized HTML
  venue TEXT,                                       -- sanitized HTML
  rules_version TEXT,                               -- of the last submission
  submitted_at INTEGER,
  decided_at INTEGER,
  created_by INTEGER REFERENCES accounts(id),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (school_id, plan_id, certificate_id)
);
CREATE INDEX declarations_plan ON declarations(plan_id, status);
CREATE INDEX declarations_school ON declarations(school_id);

CREATE TABLE declaration_majors (
  declaration_id INTEGER NOT NULL REFERENCES declarations(id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  major_code TEXT NOT NULL REFERENCES majors(code),
  students INTEGER CHECK (students >= 0),
  teachers INTEGER CHECK (teachers >= 0),
  trainees INTEGER CHECK (trainees >= 0),
  PRIMARY KEY (declaration_id, major_code)
);

CREATE TABLE reviews (
  id INTEGER PRIMARY KEY,
  declaration_id INTEGER NOT NULL REFERENCES declarations(id) ON DELETE CASCADE,
  level TEXT NOT NULL,                              -- 'city' | 'province' | 'school' (submit)
  decision TEXT NOT NULL CHECK (decision IN ('submit', 'approve', 'reject', 'return')),
  comment TEXT,
  account_id INTEGER REFERENCES accounts(id),
  rules_version TEXT,
  created_at INTEGER NOT NULL
);
CREATE INDEX reviews_declaration ON reviews(declaration_id);

CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  account_id INTEGER,
  username TEXT,
  role TEXT,
  action TEXT NOT NULL,                             -- e.g. 'declaration.submit'
  entity TEXT NOT NULL,
  entity_id INTEGER,
  province_code TEXT,
  city_code TEXT,
  before_status TEXT,
  after_status TEXT,
  detail TEXT,                                      -- JSON
  remote TEXT
);
CREATE INDEX audit_entity ON audit_log(entity, entity_id);
CREATE INDEX audit_province ON audit_log(province_code, at);
