-- PostgreSQL dialect of schema/019_queue_at_scale.sql (read it for the
-- why): the same columns, indexes and counts; SQLite's trigger bodies are
-- trigger functions here, the place is set BEFORE INSERT (SQLite updates
-- the new row after it), IS NOT is IS DISTINCT FROM, and the counts'
-- tables are ordinary (no WITHOUT ROWID).

ALTER TABLE declarations ADD COLUMN province_code TEXT;
ALTER TABLE declarations ADD COLUMN city_code TEXT;
UPDATE declarations SET province_code = s.province_code, city_code = s.city_code
FROM schools s WHERE s.id = declarations.school_id;

CREATE FUNCTION declarations_place() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  SELECT s.province_code, s.city_code INTO NEW.province_code, NEW.city_code
  FROM schools s WHERE s.id = NEW.school_id;
  RETURN NEW;
END $$;
CREATE TRIGGER declarations_place BEFORE INSERT ON declarations
  FOR EACH ROW EXECUTE FUNCTION declarations_place();

CREATE FUNCTION schools_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE declarations SET province_code = NEW.province_code, city_code = NEW.city_code
  WHERE school_id = NEW.id;
  RETURN NULL;
END $$;
CREATE TRIGGER schools_move AFTER UPDATE OF province_code, city_code ON schools
  FOR EACH ROW
  WHEN (OLD.province_code IS DISTINCT FROM NEW.province_code OR OLD.city_code IS DISTINCT FROM NEW.city_code)
  EXECUTE FUNCTION schools_move();

CREATE INDEX declarations_queue_province ON declarations(province_code, submitted_at, id, status, review_level,
                                                        plan_id)
  WHERE status <> 'draft';
CREATE INDEX declarations_queue_city ON declarations(city_code, submitted_at, id, status, review_level, province_code,
                                                    plan_id)
  WHERE status <> 'draft';
CREATE INDEX declarations_queue_plan ON declarations(plan_id, submitted_at, id, status, review_level, province_code,
                                                    city_code, certificate_id, trainees_total)
  WHERE status <> 'draft';
CREATE INDEX declarations_queue_certificate ON declarations(certificate_id, submitted_at, id, status, review_level,
                                                           province_code, city_code)
  WHERE status <> 'draft';
DROP INDEX declarations_by_certificate;

CREATE TABLE declaration_counts (
  province_code TEXT NOT NULL,
  plan_id BIGINT NOT NULL,                          -- 0: every plan
  city_code TEXT NOT NULL,
  status TEXT NOT NULL,
  review_level TEXT NOT NULL,
  n BIGINT NOT NULL,
  trainees BIGINT NOT NULL,
  PRIMARY KEY (province_code, plan_id, city_code, status, review_level)
);
CREATE INDEX declaration_counts_plan ON declaration_counts(plan_id);

CREATE TABLE pilot_counts (
  province_code TEXT NOT NULL,
  plan_id BIGINT NOT NULL,
  city_code TEXT NOT NULL,
  school_id BIGINT NOT NULL,
  n BIGINT NOT NULL,
  PRIMARY KEY (province_code, plan_id, city_code, school_id)
);
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

-- SQLite's three counting triggers in one function: the old row's counts
-- down (UPDATE, DELETE), the new row's up (INSERT, UPDATE).
CREATE FUNCTION declaration_counts_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.province_code IS NOT NULL THEN
    UPDATE declaration_counts SET n = n - 1, trainees = trainees - coalesce(OLD.trainees_total, 0)
    WHERE plan_id IN (OLD.plan_id, 0) AND province_code = OLD.province_code
      AND city_code = coalesce(OLD.city_code, '') AND status = OLD.status
      AND review_level = coalesce(OLD.review_level, '');
    IF OLD.status = 'approved' THEN
      UPDATE pilot_counts SET n = n - 1
      WHERE plan_id = OLD.plan_id AND province_code = OLD.province_code
        AND city_code = coalesce(OLD.city_code, '') AND school_id = OLD.school_id;
    END IF;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.province_code IS NOT NULL THEN
    INSERT INTO declaration_counts AS c(plan_id, province_code, city_code, status, review_level, n, trainees)
    SELECT x.plan_id, NEW.province_code, coalesce(NEW.city_code, ''), NEW.status, coalesce(NEW.review_level, ''),
           1, coalesce(NEW.trainees_total, 0)
    FROM (VALUES (NEW.plan_id), (0)) x(plan_id)
    ON CONFLICT (province_code, plan_id, city_code, status, review_level)
    DO UPDATE SET n = c.n + 1, trainees = c.trainees + excluded.trainees;
    IF NEW.status = 'approved' THEN
      INSERT INTO pilot_counts AS p(plan_id, province_code, city_code, school_id, n)
      VALUES (NEW.plan_id, NEW.province_code, coalesce(NEW.city_code, ''), NEW.school_id, 1)
      ON CONFLICT (province_code, plan_id, city_code, school_id) DO UPDATE SET n = p.n + 1;
    END IF;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER declaration_counts_insert AFTER INSERT ON declarations
  FOR EACH ROW EXECUTE FUNCTION declaration_counts_change();
CREATE TRIGGER declaration_counts_delete AFTER DELETE ON declarations
  FOR EACH ROW EXECUTE FUNCTION declaration_counts_change();
CREATE TRIGGER declaration_counts_update
  AFTER UPDATE OF province_code, city_code, school_id, plan_id, status, review_level, trainees_total ON declarations
  FOR EACH ROW EXECUTE FUNCTION declaration_counts_change();
