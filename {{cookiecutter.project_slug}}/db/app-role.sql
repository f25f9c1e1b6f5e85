{%- set plan = cookiecutter | plan -%}
-- The app's role, made with the database on the first start of a new volume (the
-- entrypoint runs this as the superuser, in POSTGRES_DB): it owns the app's database,
-- so the migrations it runs create their tables in its public schema, and it can do
-- nothing beyond that: no superuser, no roles, no databases, no replication.
-- https://www.postgresql.org/docs/current/role-attributes.html
\getenv password POSTGRES_APP_PASSWORD
\getenv database POSTGRES_DB
CREATE ROLE {{ plan.postgres_user }} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'password';
ALTER DATABASE :"database" OWNER TO {{ plan.postgres_user }};
