-- 016 (issue 10): shadow evaluation. A draft put beside the version in
-- force: every live check of that province (save, submit, plan publish)
-- is queued to be evaluated again under it, off the request's path (the
-- serving process's main thread, each second); where the two disagree a
-- divergence is recorded. The shadow decides nothing.

CREATE TABLE rule_shadows (
  id INTEGER PRIMARY KEY,
  province TEXT NOT NULL CHECK (province = 'default' OR length(province) = 2),
  version_id INTEGER NOT NULL REFERENCES rule_versions(id),
  since INTEGER NOT NULL,
  ended_at INTEGER,                                 -- NULL while running; the record stays
  evaluated INTEGER NOT NULL DEFAULT 0,
  diverged INTEGER NOT NULL DEFAULT 0,
  started_by INTEGER REFERENCES accounts(id)
);
-- one shadow per province at a time
CREATE UNIQUE INDEX rule_shadows_running ON rule_shadows(province) WHERE ended_at IS NULL;

-- Live checks waiting to be evaluated under a shadow: the rule's argument
-- and what the set in force decided, as JSON.
CREATE TABLE rule_shadow_jobs (
  id INTEGER PRIMARY KEY,
  shadow_id INTEGER NOT NULL REFERENCES rule_shadows(id) ON DELETE CASCADE,
  province TEXT NOT NULL,                           -- whose call it was (a default shadow sees all)
  at INTEGER NOT NULL,
  declaration_id INTEGER,                           -- NULL for a plan's check or a first save
  plan_id INTEGER,
  entry TEXT NOT NULL,                              -- check_declaration | check_plan | review_chain
  arg TEXT NOT NULL,
  before TEXT NOT NULL
);

CREATE TABLE rule_divergences (
  id INTEGER PRIMARY KEY,
  shadow_id INTEGER NOT NULL REFERENCES rule_shadows(id) ON DELETE CASCADE,
  at INTEGER NOT NULL,                              -- of the live check
  declaration_id INTEGER,
  plan_id INTEGER,
  entry TEXT NOT NULL,
  before TEXT NOT NULL,                             -- {"codes": [...]} (or {"chain": [...]})
  after TEXT NOT NULL                               -- the same, or {"codes": ["rule_failed"], "error"}
);
CREATE INDEX rule_divergences_shadow ON rule_divergences(shadow_id, id);
