-- 019: the admins' declaration queue at a million declarations in one
-- province (issue 11's targets: a list's p99 <= 50 ms there, <= 20 ms at
-- 30,000). Measured before this: the province's page sorted its ~900k
-- submitted ids (~140 ms) and its total counted them (~80 ms).
--
-- 1. A declaration carries its school's province and city, so that a
--    scope or a ?city= is a condition on the declaration itself and an
--    index can hold the queue of one province (city) in its order.
--    Filled on insert and kept right when a school moves (the triggers
--    below), so no writer has to know.
-- 2. The queue's indexes: one per way in (the province, the city, a plan,
--    a certificate), each in the list's order (submitted_at DESC, id DESC,
--    walked backwards) with the common filters (status, review level, the
--    scope) after it, so that a page is a walk of index entries whatever
--    its filters, and a deep page skips entries, never rows.
-- 3. declaration_counts: how many declarations (and trainees) there are
--    per city, plan, status and review level, and pilot_counts: how many
--    are approved per school and plan, kept by triggers, so that a list's
--    total, 待我审核 and the statistics add up a few hundred rows instead
--    of counting a province's declarations.
--
-- SQLite-only here, for issue 12 (PostgreSQL): the triggers (as trigger
-- functions there), `IS NOT` (IS DISTINCT FROM), WITHOUT ROWID (drop it).

ALTER TABLE declarations ADD COLUMN province_code TEXT;
ALTER TABLE declarations ADD COLUMN city_code TEXT;
UPDATE declarations SET province_code = s.province_code, city_code = s.city_code
FROM schools s WHERE s.id = declarations.school_id;

-- A new declaration takes its school's place; a school that moves takes
-- its declarations along (a city admin of the new city sees them, the old
-- one no longer does, as scope.where on the school said before).
CREATE TRIGGER declarations_place AFTER INSERT ON declarations
BEGIN
  UPDATE declarations SET province_code = s.province_code, city_code = s.city_code
  FROM schools s WHERE s.id = NEW.school_id AND declarations.id = NEW.id;
END;
CREATE TRIGGER schools_move AFTER UPDATE OF province_code, city_code ON schools
WHEN OLD.province_code IS NOT NEW.province_code OR OLD.city_code IS NOT NEW.city_code
BEGIN
  UPDATE declarations SET province_code = NEW.province_code, city_code = NEW.city_code
  WHERE school_id = NEW.id;
END;

-- The queue (every list has status <> 'draft', so every index is partial
-- on it). Province admins and ops' ?province=:
CREATE INDEX declarations_queue_province ON declarations(province_code, submitted_at, id, status, review_level,
                                                        plan_id)
  WHERE status <> 'draft';
-- city admins, ?city=:
CREATE INDEX declarations_queue_city ON declarations(city_code, submitted_at, id, status, review_level, province_code,
                                                    plan_id)
  WHERE status <> 'draft';
-- ?plan= (and a plan's statistics by certificate):
CREATE INDEX declarations_queue_plan ON declarations(plan_id, submitted_at, id, status, review_level, province_code,
                                                    city_code, certificate_id, trainees_total)
  WHERE status <> 'draft';
-- ?certificate=:
CREATE INDEX declarations_queue_certificate ON declarations(certificate_id, submitted_at, id, status, review_level,
                                                           province_code, city_code)
  WHERE status <> 'draft';
-- (ops without a filter walk declarations_submitted, ops by status
-- declarations_by_status: schema/017.) declarations_by_certificate (017)
-- answered ?certificate=, which declarations_queue_certificate now does
-- in order; what else reads a certificate's declarations names a school
-- too (declarations_eligibility, 018).
DROP INDEX declarations_by_certificate;

-- The counts per place (province, city), plan, status and review level.
-- A declaration is counted once its province is known (after
-- declarations_place), under '' for no city or no review level, twice: in
-- its plan's row and in its place's row for every plan (plan_id 0), so
-- that a list without ?plan= adds up a few rows per city, not a row per
-- city and plan.
CREATE TABLE declaration_counts (
  province_code TEXT NOT NULL,
  plan_id INTEGER NOT NULL,                         -- 0: every plan
  city_code TEXT NOT NULL,
  status TEXT NOT NULL,
  review_level TEXT NOT NULL,
  n INTEGER NOT NULL,
  trainees INTEGER NOT NULL,
  PRIMARY KEY (province_code, plan_id, city_code, status, review_level)
) WITHOUT ROWID;
-- ops' totals and a plan's statistics without a province (the key leads
-- with the province: a province's admins read only their own rows)
CREATE INDEX declaration_counts_plan ON declaration_counts(plan_id);

-- The approved declarations per school and plan: the pilot schools (试点院校:
-- a school with an approved declaration in a year) of a plan, a year and
-- the years side by side, without reading a province's approved rows.
CREATE TABLE pilot_counts (
  province_code TEXT NOT NULL,
  plan_id INTEGER NOT NULL,
  city_code TEXT NOT NULL,
  school_id INTEGER NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY (province_code, plan_id, city_code, school_id)
) WITHOUT ROWID;
CREATE INDEX pilot_counts_plan ON pilot_counts(plan_id);

INSERT INTO declaration_counts(plan_id, province_code, city_code, status, review_level, n, trainees)
SELECT x.plan_id, d.province_code, coalesce(d.city_code, ''), d.status, coalesce(d.review_level, ''), count(*),
       sum(coalesce(d.trainees_total, 0))
FROM declarations d JOIN (SELECT id, id AS plan_id FROM plans UNION ALL SELECT id, 0 FROM plans) x ON x.id = d.plan_id
WHERE d.province_code IS NOT NULL
GROUP BY 1, 2, 3, 4, 5;
INSERT INTO pilot_counts(plan_id, province_code, city_code, school_id, n)
SELECT plan_id, province_code, coalesce(city_code, ''), school_id, count(*)
FROM declarations WHERE status = 'approved' AND province_code IS NOT NULL
GROUP BY 1, 2, 3, 4;

CREATE TRIGGER declaration_counts_insert AFTER INSERT ON declarations
WHEN NEW.province_code IS NOT NULL
BEGIN
  INSERT INTO declaration_counts(plan_id, province_code, city_code, status, review_level, n, trainees)
  SELECT x.plan_id, NEW.province_code, coalesce(NEW.city_code, ''), NEW.status, coalesce(NEW.review_level, ''),
         1, coalesce(NEW.trainees_total, 0)
  FROM (SELECT NEW.plan_id AS plan_id UNION ALL SELECT 0) x WHERE true
  ON CONFLICT (province_code, plan_id, city_code, status, review_level)
  DO UPDATE SET n = n + 1, trainees = trainees + excluded.trainees;
  INSERT INTO pilot_counts(plan_id, province_code, city_code, school_id, n)
  SELECT NEW.plan_id, NEW.province_code, coalesce(NEW.city_code, ''), NEW.school_id, 1
  WHERE NEW.status = 'approved'
  ON CONFLICT (province_code, plan_id, city_code, school_id) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER declaration_counts_delete AFTER DELETE ON declarations
WHEN OLD.province_code IS NOT NULL
BEGIN
  UPDATE declaration_counts SET n = n - 1, trainees = trainees - coalesce(OLD.trainees_total, 0)
  WHERE plan_id IN (OLD.plan_id, 0) AND province_code = OLD.province_code
    AND city_code = coalesce(OLD.city_code, '') AND status = OLD.status
    AND review_level = coalesce(OLD.review_level, '');
  UPDATE pilot_counts SET n = n - 1
  WHERE OLD.status = 'approved' AND plan_id = OLD.plan_id AND province_code = OLD.province_code
    AND city_code = coalesce(OLD.city_code, '') AND school_id = OLD.school_id;
END;
CREATE TRIGGER declaration_counts_update
AFTER UPDATE OF province_code, city_code, school_id, plan_id, status, review_level, trainees_total ON declarations
BEGIN
  UPDATE declaration_counts SET n = n - 1, trainees = trainees - coalesce(OLD.trainees_total, 0)
  WHERE OLD.province_code IS NOT NULL
    AND plan_id IN (OLD.plan_id, 0) AND province_code = OLD.province_code
    AND city_code = coalesce(OLD.city_code, '') AND status = OLD.status
    AND review_level = coalesce(OLD.review_level, '');
  INSERT INTO declaration_counts(plan_id, province_code, city_code, status, review_level, n, trainees)
  SELECT x.plan_id, NEW.province_code, coalesce(NEW.city_code, ''), NEW.status, coalesce(NEW.review_level, ''),
         1, coalesce(NEW.trainees_total, 0)
  FROM (SELECT NEW.plan_id AS plan_id UNION ALL SELECT 0) x WHERE NEW.province_code IS NOT NULL
  ON CONFLICT (province_code, plan_id, city_code, status, review_level)
  DO UPDATE SET n = n + 1, trainees = trainees + excluded.trainees;
  UPDATE pilot_counts SET n = n - 1
  WHERE OLD.status = 'approved' AND OLD.province_code IS NOT NULL
    AND plan_id = OLD.plan_id AND province_code = OLD.province_code
    AND city_code = coalesce(OLD.city_code, '') AND school_id = OLD.school_id;
  INSERT INTO pilot_counts(plan_id, province_code, city_code, school_id, n)
  SELECT NEW.plan_id, NEW.province_code, coalesce(NEW.city_code, ''), NEW.school_id, 1
  WHERE NEW.status = 'approved' AND NEW.province_code IS NOT NULL
  ON CONFLICT (province_code, plan_id, city_code, school_id) DO UPDATE SET n = n + 1;
END;
