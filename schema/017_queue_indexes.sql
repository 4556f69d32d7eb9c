-- The admins' declaration queue (GET /api/admin/declarations, 待我审核,
-- the statistics) at tens of thousands of declarations: each index below
-- answers one shape of scripts/reviews.lua's query from the index alone
-- (the page's ids and the count), so neither a deep page nor the total
-- reads the table. Measured at 30,000 declarations (issue 11).
--
-- ops, no filter: the submitted ones in submission order, walked from the
-- newest (a deep page skips index entries, not rows)
CREATE INDEX declarations_submitted ON declarations(submitted_at) WHERE status <> 'draft';
-- ops by status (?status=, mine=1 for ops: every pending one), in order
CREATE INDEX declarations_by_status ON declarations(status, submitted_at);
-- a city's or province's: its schools first, then each school's
-- declarations with what the filters and the order read (replaces
-- declarations_school, its first column)
DROP INDEX declarations_school;
CREATE INDEX declarations_by_school ON declarations(school_id, status, review_level, submitted_at);
-- ?certificate=
CREATE INDEX declarations_by_certificate ON declarations(certificate_id, status, submitted_at);
-- ?plan= and ?year= (the year's plans), and a plan's statistics (replaces
-- declarations_plan, its first two columns)
DROP INDEX declarations_plan;
CREATE INDEX declarations_by_plan ON declarations(plan_id, status, submitted_at);
