#!/usr/bin/env bash
# Adds N synthetic declarations to the seeded database DB, all in one
# province (44: 166 schools x 48 certificates per plan), by SQL in one
# transaction: as many extra published plans as N needs, then every
# (plan, school, certificate) up to N, with statuses spread as a real
# province's would be (drafts, pending at city and province, approved,
# returned, rejected). Usage: declarations.sh DB N
set -euo pipefail
db=$1 n=$2
per_plan=$(sqlite3 "$db" "SELECT (SELECT count(*) FROM schools WHERE province_code = '44')
                               * (SELECT count(*) FROM certificates)")
plans=$(( (n + per_plan - 1) / per_plan ))
sqlite3 "$db" >/dev/null <<SQL
PRAGMA journal_mode=WAL;
BEGIN IMMEDIATE;
WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < $plans)
INSERT INTO plans(province_code, year, batch, title, mode, starts_at, ends_at, status,
                  published_at, created_at, updated_at)
SELECT '44', 2020 + i % 7, 2 + i / 7, '压测计划 ' || i, 'not_by_major',
       1700000000, 1700000000 + 30 * 86400, 'published', 1700000000, 1700000000, 1700000000
FROM k;
INSERT INTO declarations(school_id, plan_id, certificate_id, status, review_level, review_chain,
                         mode, trainees_total, faculty, venue, submitted_at, decided_at,
                         created_at, updated_at)
SELECT s.id, p.id, c.id, st.status,
       CASE st.status WHEN 'pending' THEN CASE (s.id + c.id) % 2 WHEN 0 THEN 'city' ELSE 'province' END END,
       '["city","province"]', 'not_by_major', 30, '<p>师资</p>', '<p>场地</p>',
       CASE st.status WHEN 'draft' THEN NULL ELSE 1700000000 + p.id * 20000 + s.id * 50 + c.id END,
       CASE WHEN st.status IN ('approved', 'rejected') THEN 1700100000 + p.id * 20000 END,
       1700000000, 1700000000
FROM (SELECT id FROM plans WHERE title LIKE '压测计划 %') p
JOIN (SELECT id FROM schools WHERE province_code = '44') s
JOIN certificates c
JOIN (SELECT 0 AS k, 'draft' AS status UNION ALL SELECT 1, 'pending' UNION ALL SELECT 2, 'pending'
      UNION ALL SELECT 3, 'returned' UNION ALL SELECT 4, 'rejected' UNION ALL SELECT 5, 'approved'
      UNION ALL SELECT 6, 'approved' UNION ALL SELECT 7, 'approved' UNION ALL SELECT 8, 'approved'
      UNION ALL SELECT 9, 'pending') st ON st.k = (p.id + s.id + c.id) % 10
LIMIT $n;
COMMIT;
SQL
