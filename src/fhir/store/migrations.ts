// The schema, as an ordered list of migrations applied at start. Never edit a released
// migration: add a new one. Both engines (PostgreSQL, PGlite) run the same SQL.
import type { Database } from './database.js';

const MIGRATIONS: { id: number; name: string; sql: string }[] = [
  {
    id: 1,
    name: 'resources, history and search index',
    sql: `
      -- Current version of every resource. content holds the full JSON including meta, so a
      -- read can send the stored text as it is.
      CREATE TABLE resource (
        resource_type text NOT NULL,
        id text NOT NULL,
        version_id bigint NOT NULL,
        last_updated timestamptz NOT NULL,
        deleted boolean NOT NULL DEFAULT false,
        content jsonb,
        PRIMARY KEY (resource_type, id)
      );
      CREATE INDEX resource_last_updated ON resource (resource_type, last_updated, id);

      CREATE TABLE resource_history (
        resource_type text NOT NULL,
        id text NOT NULL,
        version_id bigint NOT NULL,
        last_updated timestamptz NOT NULL,
        deleted boolean NOT NULL DEFAULT false,
        content jsonb,
        PRIMARY KEY (resource_type, id, version_id)
      );

      -- Search index rows, extracted at write time from the R4 SearchParameter expressions.
      CREATE TABLE idx_token (
        resource_type text NOT NULL, id text NOT NULL, param text NOT NULL,
        system text, code text
      );
      CREATE INDEX idx_token_lookup ON idx_token (resource_type, param, code, system);
      CREATE INDEX idx_token_owner ON idx_token (resource_type, id);

      CREATE TABLE idx_string (
        resource_type text NOT NULL, id text NOT NULL, param text NOT NULL,
        norm text NOT NULL, exact text NOT NULL
      );
      CREATE INDEX idx_string_lookup ON idx_string (resource_type, param, norm text_pattern_ops);
      CREATE INDEX idx_string_owner ON idx_string (resource_type, id);

      CREATE TABLE idx_date (
        resource_type text NOT NULL, id text NOT NULL, param text NOT NULL,
        low timestamptz, high timestamptz
      );
      CREATE INDEX idx_date_lookup ON idx_date (resource_type, param, low, high);
      CREATE INDEX idx_date_owner ON idx_date (resource_type, id);

      CREATE TABLE idx_reference (
        resource_type text NOT NULL, id text NOT NULL, param text NOT NULL,
        target_type text, target_id text, target_version text, url text
      );
      CREATE INDEX idx_reference_lookup ON idx_reference (resource_type, param, target_id, target_type);
      CREATE INDEX idx_reference_target ON idx_reference (target_type, target_id);
      CREATE INDEX idx_reference_owner ON idx_reference (resource_type, id);

      CREATE TABLE idx_number (
        resource_type text NOT NULL, id text NOT NULL, param text NOT NULL,
        value numeric, system text, code text
      );
      CREATE INDEX idx_number_lookup ON idx_number (resource_type, param, value);
      CREATE INDEX idx_number_owner ON idx_number (resource_type, id);

      CREATE TABLE idx_uri (
        resource_type text NOT NULL, id text NOT NULL, param text NOT NULL,
        value text NOT NULL
      );
      CREATE INDEX idx_uri_lookup ON idx_uri (resource_type, param, value);
      CREATE INDEX idx_uri_owner ON idx_uri (resource_type, id);
    `,
  },
  {
    id: 2,
    name: 'bulk data export jobs',
    sql: `
      -- One row per $export kick-off (src/fhir/bulk). The job's state lives here, not in Redis
      -- or memory, so any API process answers status polls and a restart loses nothing.
      CREATE TABLE bulk_export_job (
        id text PRIMARY KEY,
        client_id text NOT NULL,
        organization_id text NOT NULL,
        status text NOT NULL, -- accepted | running | completed | failed | cancelled
        request_url text NOT NULL,
        params jsonb NOT NULL,
        transaction_time timestamptz NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz,
        expires_at timestamptz,
        last_polled_at timestamptz,
        progress text,
        output jsonb, -- [{type, file, count}]
        error_files jsonb, -- [{type, file, count}] OperationOutcome ndjson
        failure text
      );
      CREATE INDEX bulk_export_job_client ON bulk_export_job (client_id, status);
      CREATE INDEX bulk_export_job_expires ON bulk_export_job (expires_at);

      -- The patients an export covers, fixed at kick-off (Group members then; the requesting
      -- organization's related patients): joined by the export queries, never held in memory.
      CREATE TABLE bulk_export_patient (
        job_id text NOT NULL,
        patient_id text NOT NULL,
        PRIMARY KEY (job_id, patient_id)
      );
    `,
  },
  {
    id: 3,
    name: 'exchange outbox and delivery log',
    sql: `
      -- The transactional outbox of src/exchange, which is also the delivery log: one row per
      -- (committing transaction, destination, beneficiary), written by the same transaction as
      -- the data, so a commit without its routing decision (or the reverse) cannot exist.
      CREATE TABLE exchange_delivery (
        id text PRIMARY KEY,
        tx_id bigint NOT NULL,
        destination text NOT NULL,
        source_org text NOT NULL,
        agreement_id text NOT NULL,
        purpose_of_use text NOT NULL,
        patient_id text NOT NULL,
        data_classes jsonb NOT NULL,
        state text NOT NULL, -- pending | queued | retrying | delivered | dead | withheld
        attempts integer NOT NULL DEFAULT 0,
        replays integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL,
        queued_at timestamptz,
        delivered_at timestamptz,
        updated_at timestamptz NOT NULL,
        last_status integer,
        last_error text,
        last_outcome jsonb,
        UNIQUE (tx_id, destination, patient_id)
      );
      CREATE INDEX exchange_delivery_state ON exchange_delivery (state, created_at);
      CREATE INDEX exchange_delivery_destination ON exchange_delivery (destination, created_at);
      CREATE INDEX exchange_delivery_patient ON exchange_delivery (patient_id, created_at);

      -- The resources a delivery carries (references only; the body is read at send time).
      CREATE TABLE exchange_delivery_item (
        delivery_id text NOT NULL,
        resource_type text NOT NULL,
        resource_id text NOT NULL,
        version_id bigint NOT NULL,
        PRIMARY KEY (delivery_id, resource_type, resource_id)
      );

      -- Every attempt and its outcome.
      CREATE TABLE exchange_attempt (
        delivery_id text NOT NULL,
        attempt integer NOT NULL,
        started_at timestamptz NOT NULL,
        finished_at timestamptz NOT NULL,
        outcome text NOT NULL, -- delivered | retry | dead | withheld
        http_status integer,
        error text,
        PRIMARY KEY (delivery_id, attempt, started_at)
      );
    `,
  },
  {
    id: 4,
    name: 'bulk data export items',
    sql: `
      -- The resources one export will write, per type, chosen by one set-based query when the
      -- type's turn comes (src/fhir/bulk/export-query.ts), then read back in primary-key order:
      -- keyset pages that stay cheap whatever the planner's statistics, and each id once.
      CREATE TABLE bulk_export_item (
        job_id text NOT NULL,
        resource_type text NOT NULL,
        id text NOT NULL,
        PRIMARY KEY (job_id, resource_type, id)
      );
    `,
  },
  {
    id: 5,
    name: 'ingest jobs',
    sql: `
      -- POST /ingest/{layout} (src/ingest/ingest-job.ts): one row per upload, shared by the API
      -- (status reads, only by the uploading organization) and the ingest worker (progress,
      -- report). The row holds counts and per-record reasons, never source data.
      CREATE TABLE ingest_job (
        id text PRIMARY KEY,
        client_id text NOT NULL,
        organization_id text NOT NULL,
        layout text NOT NULL,
        format text NOT NULL,
        status text NOT NULL, -- accepted | running | completed | failed
        bytes bigint NOT NULL,
        request_id text,
        created_at timestamptz NOT NULL,
        started_at timestamptz,
        finished_at timestamptz,
        records integer NOT NULL DEFAULT 0,
        accepted integer NOT NULL DEFAULT 0,
        rejected integer NOT NULL DEFAULT 0,
        resources jsonb,
        rejects jsonb,
        warnings jsonb,
        failure text
      );
      CREATE INDEX ingest_job_org ON ingest_job (organization_id, created_at);

      -- The resources a job wrote (references only), each once.
      CREATE TABLE ingest_job_resource (
        job_id text NOT NULL,
        seq bigint NOT NULL,
        resource_type text NOT NULL,
        id text NOT NULL,
        version_id text NOT NULL,
        outcome text NOT NULL, -- created | updated | unchanged
        PRIMARY KEY (job_id, resource_type, id)
      );
      CREATE INDEX ingest_job_resource_seq ON ingest_job_resource (job_id, seq);
    `,
  },
  {
    id: 8,
    name: 'subscription notifications',
    sql: `
      -- FHIR Subscriptions R4 Backport (src/notifications): the server-side state of every
      -- Subscription (owner, topic, channel, events-since-subscription-start), written by the
      -- Subscription's own write transaction. The resource holds what the client asked for.
      CREATE TABLE notification_subscription (
        id text PRIMARY KEY,
        owner text NOT NULL,
        topic text NOT NULL,
        filter_patient text,
        endpoint text NOT NULL,
        payload text NOT NULL,          -- empty | id-only | full-resource
        heartbeat_seconds integer,
        timeout_seconds integer,
        end_at timestamptz,
        status text NOT NULL,           -- requested | active | error | off | deleted
        events bigint NOT NULL DEFAULT 0,
        next_heartbeat_at timestamptz,
        error text,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
      );
      CREATE INDEX notification_subscription_topic ON notification_subscription (topic, status);
      CREATE INDEX notification_subscription_heartbeat ON notification_subscription (next_heartbeat_at) WHERE status = 'active';

      -- The notification outbox: one row per handshake, heartbeat or event for one
      -- subscription, written by the data's transaction (events) and moved through BullMQ like
      -- exchange_delivery. References and states only, never a resource body.
      CREATE TABLE notification (
        id text PRIMARY KEY,
        subscription_id text NOT NULL,
        destination text NOT NULL,      -- the owner organization (one queue per destination)
        kind text NOT NULL,             -- handshake | heartbeat | event-notification
        topic text,
        focus_type text,
        focus_id text,
        focus_version text,
        patient_id text,
        event_number bigint,
        event_at timestamptz,
        state text NOT NULL,            -- pending | queued | retrying | delivered | dead | withheld | skipped
        attempts integer NOT NULL DEFAULT 0,
        replays integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL,
        queued_at timestamptz,
        delivered_at timestamptz,
        updated_at timestamptz NOT NULL,
        last_status integer,
        last_error text
      );
      CREATE INDEX notification_state ON notification (state, created_at);
      CREATE INDEX notification_subscription_created ON notification (subscription_id, created_at);
    `,
  },
  {
    id: 6,
    name: 'alignment decisions',
    sql: `
      -- One row per beneficiary and performance period: the latest alignment run's decision and
      -- its explanation (src/alignment; Patient/[id]/$alignment). Replaced by each run.
      CREATE TABLE alignment_decision (
        period text NOT NULL,
        patient_id text NOT NULL,
        run_id text NOT NULL,
        aco_ids text[] NOT NULL,
        decision jsonb NOT NULL,
        decided_at timestamptz NOT NULL,
        PRIMARY KEY (period, patient_id)
      );
      CREATE INDEX alignment_decision_run ON alignment_decision (period, run_id);
    `,
  },
  {
    id: 7,
    name: 'shared risk recomputation marks',
    sql: `
      -- People whose shared RiskAssessment must be recomputed (src/risk). The write hook marks a
      -- person in the input's own transaction; a drain claims marks with a lease (FOR UPDATE SKIP
      -- LOCKED), recomputes, and deletes the mark only if seq did not move (no newer input).
      CREATE SEQUENCE risk_pending_seq;
      CREATE TABLE risk_pending (
        patient_id text PRIMARY KEY,
        seq bigint NOT NULL,
        enqueued_at timestamptz NOT NULL DEFAULT now(),
        lease_until timestamptz,
        attempts integer NOT NULL DEFAULT 0,
        last_error text
      );
      CREATE INDEX risk_pending_queue ON risk_pending (enqueued_at, patient_id);
    `,
  },
  {
    id: 9,
    name: 'disclosure context change notifications',
    sql: `
      -- The consent engine caches per person what the relationship and Consent queries read
      -- (src/consent/disclosure-context-cache.ts): every committed change to a Patient, Coverage,
      -- Group or Consent row (whose index rows change in the same transaction) NOTIFYs its
      -- listeners in every process. Channels are database-wide: the payload names the schema.
      -- Identical notifications of one transaction are delivered once, at commit.
      CREATE FUNCTION notify_disclosure_context() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('lead_disclosure_context', TG_TABLE_SCHEMA);
        RETURN NULL;
      END $$;
      -- WHEN is checked before the function is called: other types cost no call. A trigger on
      -- INSERT may not read OLD nor one on DELETE read NEW, hence two.
      CREATE TRIGGER resource_disclosure_context AFTER INSERT OR UPDATE ON resource FOR EACH ROW
        WHEN (NEW.resource_type IN ('Patient', 'Coverage', 'Group', 'Consent'))
        EXECUTE FUNCTION notify_disclosure_context();
      CREATE TRIGGER resource_disclosure_context_delete AFTER DELETE ON resource FOR EACH ROW
        WHEN (OLD.resource_type IN ('Patient', 'Coverage', 'Group', 'Consent'))
        EXECUTE FUNCTION notify_disclosure_context();
      CREATE TRIGGER resource_disclosure_context_truncate AFTER TRUNCATE ON resource
        FOR EACH STATEMENT EXECUTE FUNCTION notify_disclosure_context();
    `,
  },
  {
    id: 10,
    name: 'lz4 compression of stored resources',
    sql: `
      -- A resource over ~2 kB (an AuditEvent listing a search page's 45 disclosed resources, a
      -- long QuestionnaireResponse) is compressed when stored. pglz took 13 % of PostgreSQL's CPU
      -- writing AuditEvents (perf, docs/benchmarks.md); lz4 compresses and decompresses several
      -- times faster. Values already stored keep pglz (both are read). PGlite has no lz4: pglz.
      DO $$
      BEGIN
        IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
          ALTER TABLE resource ALTER COLUMN content SET COMPRESSION lz4;
          ALTER TABLE resource_history ALTER COLUMN content SET COMPRESSION lz4;
        END IF;
      END $$;
    `,
  },
  {
    id: 11,
    name: 'audit journal',
    sql: `
      -- Disclosures on record, not yet AuditEvent resources (src/consent/audit.ts): a disclosure
      -- commits its record here, as JSON (id, recorded, what was disclosed to whom), before the
      -- response leaves — one row, one index, no search rows — and the AuditTrail's indexer turns
      -- the rows into AuditEvents in the resource store, in batches, when the journal is quiet,
      -- and always before anything reads AuditEvents.
      CREATE TABLE audit_journal (
        seq bigserial PRIMARY KEY,
        entry json NOT NULL
      );
      DO $$
      BEGIN
        IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
          ALTER TABLE audit_journal ALTER COLUMN entry SET COMPRESSION lz4;
        END IF;
      END $$;
    `,
  },
  {
    id: 12,
    name: 'disclosure facts of stored versions',
    sql: `
      -- What the consent engine reads in a version's stored text before disclosing it (its people,
      -- where its meta, narrative and Reference.display members are: src/consent/stored-resource.ts),
      -- found once when the version is written instead of at every read. Set only when PostgreSQL
      -- prints the stored jsonb exactly as the gateway wrote it (positions are positions in that
      -- text); NULL otherwise, and for versions written before this migration: those are scanned
      -- at read time, as before.
      ALTER TABLE resource ADD COLUMN disclosure_facts text;
    `,
  },
  {
    id: 13,
    name: 'audit events in their own table',
    sql: `
      -- One row per disclosure, written before the response leaves, and the AuditEvent rendered
      -- from it when read (src/consent/audit.ts, audit-events.ts): the record, and as columns what
      -- the accounting of disclosures searches by. Replaces the audit journal and the AuditEvents
      -- it was indexed into as ordinary resources (resource, history, ~16 index rows each).
      CREATE TABLE audit_event (
        id text PRIMARY KEY,
        recorded timestamptz NOT NULL,
        recipient text NOT NULL,
        client text,
        purpose text NOT NULL,
        channel text NOT NULL,
        rules text[] NOT NULL,
        policies text[] NOT NULL,
        people text[] NOT NULL,
        series text,
        withheld integer NOT NULL,
        disclosed text NOT NULL,
        resource json
      );
      CREATE INDEX audit_event_recorded ON audit_event (recorded, id);
      CREATE INDEX audit_event_recipient ON audit_event (recipient, recorded);
      CREATE INDEX audit_event_people ON audit_event USING gin (people);
      CREATE INDEX audit_event_series ON audit_event (series) WHERE series IS NOT NULL;
      DO $$
      BEGIN
        IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
          ALTER TABLE audit_event ALTER COLUMN disclosed SET COMPRESSION lz4;
          ALTER TABLE audit_event ALTER COLUMN resource SET COMPRESSION lz4;
        END IF;
      END $$;
      -- The journal's rows, not yet indexed.
      INSERT INTO audit_event (id, recorded, recipient, client, purpose, channel, rules, policies, people, series, withheld, disclosed)
      SELECT e->>'id', (e->>'recorded')::timestamptz, r->'recipient'->>'organizationId', r->'recipient'->>'clientId',
             r->'recipient'->>'purposeOfUse', r->>'channel',
             ARRAY(SELECT DISTINCT x FROM jsonb_array_elements_text(COALESCE(r->'rules', '[]')) x ORDER BY x),
             ARRAY(SELECT DISTINCT x FROM jsonb_array_elements_text(COALESCE(r->'basedOn', '[]')) x ORDER BY x),
             ARRAY(SELECT jsonb_array_elements_text(COALESCE(r->'patientIds', '[]'))),
             r->>'series', COALESCE((r->>'withheld')::integer, 0), COALESCE(r->>'disclosed', '')
      FROM (SELECT entry::jsonb AS e, entry::jsonb->'record' AS r FROM audit_journal) j;
      DROP TABLE audit_journal;
      -- AuditEvents indexed as resources: kept whole, served as stored, found by the same columns.
      INSERT INTO audit_event (id, recorded, recipient, client, purpose, channel, rules, policies, people, series, withheld, disclosed, resource)
      SELECT r.id, COALESCE((r.content->>'recorded')::timestamptz, r.last_updated),
             COALESCE(substring(r.content->'agent'->0->'who'->>'reference' FROM '^Organization/(.*)$'), ''),
             r.content->'agent'->0->>'altId',
             COALESCE(r.content->'purposeOfEvent'->0->'coding'->0->>'code', ''),
             COALESCE(r.content->'subtype'->0->>'code', ''),
             ARRAY(SELECT s->>'code' FROM jsonb_array_elements(COALESCE(r.content->'subtype', '[]')) WITH ORDINALITY AS t(s, n) WHERE n > 1 AND s->>'code' IS NOT NULL),
             ARRAY(SELECT jsonb_array_elements_text(COALESCE(r.content->'agent'->0->'policy', '[]'))),
             ARRAY(SELECT substr(x->'what'->>'reference', 9) FROM jsonb_array_elements(COALESCE(r.content->'entity', '[]')) x
                   WHERE x->'what'->>'reference' LIKE 'Patient/%'),
             (SELECT x->>'name' FROM jsonb_array_elements(COALESCE(r.content->'entity', '[]')) x WHERE x->>'name' IS NOT NULL LIMIT 1),
             0, '', r.content::json
      FROM resource r WHERE r.resource_type = 'AuditEvent' AND NOT r.deleted;
      DELETE FROM idx_token WHERE resource_type = 'AuditEvent';
      DELETE FROM idx_string WHERE resource_type = 'AuditEvent';
      DELETE FROM idx_date WHERE resource_type = 'AuditEvent';
      DELETE FROM idx_reference WHERE resource_type = 'AuditEvent';
      DELETE FROM idx_number WHERE resource_type = 'AuditEvent';
      DELETE FROM idx_uri WHERE resource_type = 'AuditEvent';
      DELETE FROM resource_history WHERE resource_type = 'AuditEvent';
      DELETE FROM resource WHERE resource_type = 'AuditEvent';
    `,
  },
];

/** Applies the migrations not yet applied, up to `upTo` (all by default; tests of one migration stop before it). */
export async function migrate(db: Database, upTo = Infinity): Promise<void> {
  await db.query(`CREATE TABLE IF NOT EXISTS schema_migration (
    id integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
  // One transaction per migration; an advisory lock keeps two gateway processes starting
  // together against one PostgreSQL from applying the same migration twice.
  for (const m of MIGRATIONS.filter((x) => x.id <= upTo)) {
    await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(7411)');
      const done = await tx.query('SELECT 1 FROM schema_migration WHERE id = $1', [m.id]);
      if (done.rows.length) return;
      await tx.exec(m.sql);
      await tx.query('INSERT INTO schema_migration (id, name) VALUES ($1, $2)', [m.id, m.name]);
    });
  }
}
