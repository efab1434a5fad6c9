import BridgeStore
import Logging
import PostgresNIO

/// Versioned migrations, each frozen once shipped (change the schema by adding one). They run in one
/// transaction under an advisory lock, so replicas starting at once migrate once and the others wait
/// and then see the schema done. The first one is the SQLite schema after its seven migrations, in
/// PostgreSQL's types (booleans, text arrays, bytea; times as unix seconds).
enum Schema {
    /// Advisory lock keys of this database (arbitrary, fixed): migrations, event appends, claims.
    static let migrationLock: Int64 = 0x7470_6200_0001
    static let eventLock: Int64 = 0x7470_6200_0002
    static let claimLock: Int64 = 0x7470_6200_0003

    static let migrations: [(id: String, sql: String)] = [
        ("pg1-initial", v1), ("pg2-health", v2), ("pg3-subscription-headers", v3),
        ("pg4-subscription-rate-limit", v4), ("pg5-events-subject", v5),
    ]

    static func migrate(_ client: PostgresClient, logger: Logger) async throws(StoreError) {
        do {
            try await client.withTransaction(logger: logger) { connection in
                let sql = SQL(connection: connection, logger: logger)
                try await sql.run("SELECT pg_advisory_xact_lock(\(migrationLock))")
                try await sql.run(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
                )
                let applied = Set(try await sql.column("SELECT id FROM schema_migrations", as: String.self))
                let unknown = applied.subtracting(migrations.map(\.id))
                guard unknown.isEmpty else { throw StoreError.newerSchema(unknownMigrations: unknown.sorted()) }
                for migration in migrations where !applied.contains(migration.id) {
                    // Simple-protocol statements may hold several commands; extended ones may not.
                    for statement in migration.sql.components(separatedBy: ";\n") {
                        let text = statement.trimmingCharacters(in: .whitespacesAndNewlines)
                        if !text.isEmpty { try await sql.run(PostgresQuery(unsafeSQL: text)) }
                    }
                    try await sql.run("INSERT INTO schema_migrations (id) VALUES (\(migration.id))")
                }
            }
        } catch {
            throw StoreError(postgres: error)
        }
    }

    static let v1 = """
        CREATE TABLE meta (
            key text PRIMARY KEY,
            value text
        );

        CREATE TABLE tenants (
            name text PRIMARY KEY,
            created_at double precision NOT NULL
        );

        CREATE TABLE subscriptions (
            id text PRIMARY KEY,
            tenant text NOT NULL REFERENCES tenants(name),
            url text NOT NULL,
            event_types text[],
            video_id text,
            description text,
            enabled boolean NOT NULL DEFAULT true,
            disabled_reason text,
            failing_since double precision,
            paused_until double precision,
            created_at double precision NOT NULL,
            updated_at double precision NOT NULL
        );
        CREATE INDEX subscriptions_by_tenant ON subscriptions(tenant, id);

        CREATE TABLE subscription_secrets (
            id bigserial PRIMARY KEY,
            subscription_id text NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
            secret text NOT NULL,
            created_at double precision NOT NULL,
            expires_at double precision
        );
        CREATE INDEX subscription_secrets_by_subscription ON subscription_secrets(subscription_id);

        CREATE TABLE videos (
            id bigserial PRIMARY KEY,
            tenant text NOT NULL REFERENCES tenants(name),
            video_id text NOT NULL,
            source text NOT NULL CHECK (source IN ('generate', 'watch')),
            observed_status text,
            notified_status text,
            known_status text,
            unknown_seen text[] NOT NULL DEFAULT '{}',
            video_url text,
            tracking_started_at double precision NOT NULL,
            first_seen_at double precision,
            last_seen_at double precision,
            last_changed_at double precision,
            next_poll_at double precision NOT NULL,
            terminal boolean NOT NULL DEFAULT false,
            expired boolean NOT NULL DEFAULT false,
            poll_failures integer NOT NULL DEFAULT 0,
            finished_at double precision,
            UNIQUE (tenant, video_id)
        );
        CREATE INDEX videos_due ON videos(next_poll_at) WHERE NOT terminal;
        CREATE INDEX videos_live_by_upstream_id ON videos(video_id) WHERE NOT terminal;
        CREATE INDEX videos_expiry ON videos(tracking_started_at) WHERE NOT terminal;
        CREATE INDEX videos_submitted_by_id ON videos(video_id, tenant) WHERE source = 'generate';
        CREATE INDEX videos_finished_by_age ON videos(finished_at) WHERE terminal;

        CREATE TABLE events (
            seq bigserial PRIMARY KEY,
            id text NOT NULL UNIQUE,
            tenant text NOT NULL REFERENCES tenants(name),
            type text NOT NULL,
            video_id text,
            payload text NOT NULL,
            created_at double precision NOT NULL
        );
        CREATE INDEX events_by_tenant ON events(tenant, seq);
        CREATE INDEX events_by_video ON events(tenant, video_id, seq);
        CREATE INDEX events_by_age ON events(created_at);

        CREATE TABLE deliveries (
            id bigserial PRIMARY KEY,
            event_seq bigint NOT NULL REFERENCES events(seq) ON DELETE CASCADE,
            subscription_id text NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
            tenant text NOT NULL,
            ordering_key text NOT NULL,
            state text NOT NULL CHECK (state IN ('pending', 'held', 'succeeded', 'failed', 'cancelled')),
            attempts integer NOT NULL DEFAULT 0,
            next_attempt_at double precision NOT NULL,
            lease_owner text,
            lease_expires_at double precision,
            last_error text,
            created_at double precision NOT NULL,
            updated_at double precision NOT NULL,
            completed_at double precision
        );
        CREATE INDEX deliveries_due ON deliveries(next_attempt_at, id) WHERE state = 'pending';
        CREATE INDEX deliveries_open_by_stream ON deliveries(subscription_id, ordering_key, id)
            WHERE state IN ('pending', 'held');
        CREATE INDEX deliveries_leased ON deliveries(subscription_id) WHERE lease_owner IS NOT NULL;
        CREATE INDEX deliveries_by_tenant ON deliveries(tenant, id);
        CREATE INDEX deliveries_by_event ON deliveries(event_seq);
        CREATE INDEX deliveries_finished_by_age ON deliveries(completed_at)
            WHERE state IN ('succeeded', 'failed', 'cancelled');

        CREATE TABLE attempts (
            id bigserial PRIMARY KEY,
            delivery_id bigint NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
            attempted_at double precision NOT NULL,
            status_code integer,
            error_kind text,
            latency_ms double precision NOT NULL,
            response_snippet text
        );
        CREATE INDEX attempts_by_delivery ON attempts(delivery_id);

        CREATE TABLE idempotency_keys (
            tenant text NOT NULL,
            key text NOT NULL,
            request_hash text NOT NULL,
            status integer,
            content_type text,
            body bytea,
            created_at double precision NOT NULL,
            PRIMARY KEY (tenant, key)
        );
        CREATE INDEX idempotency_keys_by_age ON idempotency_keys(created_at);

        CREATE TABLE poller_lease (
            name text PRIMARY KEY,
            holder text NOT NULL,
            term bigint NOT NULL,
            expires_at double precision NOT NULL
        )
        """

    /// Health reads: the poller's last cycle (recorded with its lease) and attempts by time.
    static let v2 = """
        ALTER TABLE poller_lease ADD COLUMN last_cycle_at double precision;
        CREATE INDEX attempts_by_time ON attempts(attempted_at)
        """

    /// Custom headers per subscription: sealed like the secrets, and masked for reading back (JSON text).
    static let v3 = """
        ALTER TABLE subscriptions ADD COLUMN headers text;
        ALTER TABLE subscriptions ADD COLUMN header_masks text
        """

    /// A rate limit per subscription (callbacks per second), and the buckets in a table only claims write:
    /// a claim (holding the claim lock and its deliveries' row locks) never waits on a subscription row,
    /// which a disable, a delete or another replica's outcome may hold while it waits on those deliveries
    /// or on the claim lock. Only adds: replicas of the version before keep working beside it.
    static let v4 = """
        ALTER TABLE subscriptions ADD COLUMN rate_limit integer CHECK (rate_limit IS NULL OR rate_limit > 0);
        CREATE TABLE rate_buckets (
            subscription_id text PRIMARY KEY,
            ready_at double precision NOT NULL
        );
        CREATE INDEX rate_buckets_by_time ON rate_buckets(ready_at)
        """

    /// Operational events name the subscription they are about, which never receives them.
    static let v5 = """
        ALTER TABLE events ADD COLUMN subject text
        """
}
