-- 015 (issue 9): province rules as versioned data. Each province, and
-- `default` (the national set), has versions; the set in force for a
-- province is its published version over the published `default`.

CREATE TABLE rule_versions (
  id INTEGER PRIMARY KEY,
  province TEXT NOT NULL CHECK (province = 'default' OR length(province) = 2),
  status TEXT NOT NULL CHECK (status IN ('draft', 'published', 'retired')),
  source TEXT NOT NULL,
  sha256 TEXT NOT NULL,                             -- of source, hex
  note TEXT NOT NULL DEFAULT '',
  author_id INTEGER REFERENCES accounts(id),        -- NULL: the platform (baseline, files)
  author TEXT NOT NULL,                             -- shown: a person's name or the source
  created_at INTEGER NOT NULL,
  published_at INTEGER                              -- when it last went in force
);
CREATE INDEX rule_versions_province ON rule_versions(province, id);
-- at most one version in force per province
CREATE UNIQUE INDEX rule_versions_in_force ON rule_versions(province) WHERE status = 'published';

-- A province's test cases (the format of `host rules test`), beside its versions.
CREATE TABLE rule_cases (
  province TEXT PRIMARY KEY CHECK (province = 'default' OR length(province) = 2),
  source TEXT NOT NULL,
  author_id INTEGER REFERENCES accounts(id),
  updated_at INTEGER NOT NULL
);

-- What each file of the rules directory last put in force (the developer's
-- reload loop): a file is pushed again only when its text changes.
CREATE TABLE rule_files (
  province TEXT PRIMARY KEY,
  sha256 TEXT NOT NULL,
  version_id INTEGER REFERENCES rule_versions(id), -- NULL: the file was refused
  error TEXT
);

-- Bumped by every publish and rollback: a host instance whose installed
-- generation differs installs the stored set again (within a second).
CREATE TABLE rule_state (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  generation INTEGER NOT NULL
);
INSERT INTO rule_state(id, generation) VALUES (1, 1);

-- The decision record: the province's version a submission was decided
-- under (a review follows the chain fixed then, and records the same).
ALTER TABLE declarations ADD COLUMN rules_version_id INTEGER REFERENCES rule_versions(id);
ALTER TABLE reviews ADD COLUMN rules_version_id INTEGER REFERENCES rule_versions(id);
