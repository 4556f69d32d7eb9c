-- Issue 14: admins are shown by name with their unit, not by login name.
-- display_name: the person (e.g. 王敏); the unit follows from the role and
-- scope (石家庄市教育局, 河北省教育厅, 国开在线运维), see scripts/people.lua.
ALTER TABLE accounts ADD COLUMN display_name TEXT;
