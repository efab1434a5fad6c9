import BridgeStore
import GRDB

/// Versioned migrations. Each one is frozen once shipped: change the schema by adding a new one.
/// Written in SQL terms, never through app types, so old migrations keep meaning what they meant.
enum Schema {
    /// The migrations without the key: enough to list them or to build an old schema.
    static var migrator: DatabaseMigrator { migrator(secrets: nil) }

    /// - Parameter secrets: seals what earlier versions stored in clear (v7); nil fails v7 on a
    ///   database that has anything to seal.
    static func migrator(secrets: SecretBox?) -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-initial") { db in
            try db.execute(sql: v1)
        }
        // The dispatcher orders due deliveries by time, then id (creation order within a tick): the
        // index must carry both, or every claim sorts the whole backlog.
        migrator.registerMigration("v2-deliveries-due-by-time-and-id") { db in
            try db.execute(
                sql: """
                    DROP INDEX deliveries_due;
                    CREATE INDEX deliveries_due ON deliveries(next_attempt_at, id) WHERE state = 'pending';
                    """
            )
        }
        // Idempotency-Key records: one per (tenant, key), holding the first response for 24 h.
        migrator.registerMigration("v3-idempotency-keys") { db in
            try db.execute(
                sql: """
                    CREATE TABLE idempotency_keys (
                        tenant TEXT NOT NULL,
                        key TEXT NOT NULL,
                        request_hash TEXT NOT NULL,
                        status INTEGER,
                        content_type TEXT,
                        body BLOB,
                        created_at REAL NOT NULL,
                        PRIMARY KEY (tenant, key)
                    ) WITHOUT ROWID;
                    CREATE INDEX idempotency_keys_by_age ON idempotency_keys(created_at);
                    """
            )
        }
        // Ownership: a video submitted through the bridge belongs to its submitter; `watch` by any
        // other key looks it up by upstream id alone.
        migrator.registerMigration("v4-videos-submitted-by-id") { db in
            try db.execute(sql: "CREATE INDEX videos_submitted_by_id ON videos(video_id, tenant) WHERE source = 'generate'")
        }
        // Unobservable videos back off on their own: consecutive failed looks at this video.
        migrator.registerMigration("v5-videos-poll-failures") { db in
            try db.execute(sql: "ALTER TABLE videos ADD COLUMN poll_failures INTEGER NOT NULL DEFAULT 0")
        }
        // Retention covers every finished record: failed deliveries, terminal or expired videos
        // (finished_at: when they became so), idempotency records.
        migrator.registerMigration("v6-retention-of-finished-records") { db in
            try db.execute(
                sql: """
                    DROP INDEX deliveries_done_by_age;
                    CREATE INDEX deliveries_finished_by_age ON deliveries(completed_at)
                        WHERE state IN ('succeeded', 'failed', 'cancelled');
                    ALTER TABLE videos ADD COLUMN finished_at REAL;
                    UPDATE videos SET finished_at = COALESCE(last_changed_at, last_seen_at, tracking_started_at) WHERE terminal = 1;
                    CREATE INDEX videos_finished_by_age ON videos(finished_at) WHERE terminal = 1;
                    """
            )
        }
        // Secrets at rest: signing secrets and stored idempotent responses are sealed (AES-GCM).
        migrator.registerMigration("v7-secrets-sealed") { db in
            try SQLiteBridgeStore.sealPlaintext(db, with: secrets)
        }
        // Attempts in flight by subscription, for the per-subscription cap: the leased rows only.
        migrator.registerMigration("v8-deliveries-leased") { db in
            try db.execute(sql: "CREATE INDEX deliveries_leased ON deliveries(subscription_id) WHERE lease_owner IS NOT NULL")
        }
        // Which process polls the upstream (several `serve` processes may open one file).
        migrator.registerMigration("v9-poller-lease") { db in
            try db.execute(
                sql: "CREATE TABLE poller_lease (name TEXT PRIMARY KEY, holder TEXT NOT NULL, term INTEGER NOT NULL, expires_at REAL NOT NULL)"
            )
        }
        // Health reads: the poller's last cycle (recorded with its lease) and attempts by time.
        migrator.registerMigration("v10-health") { db in
            try db.execute(sql: "ALTER TABLE poller_lease ADD COLUMN last_cycle_at REAL")
            try db.execute(sql: "CREATE INDEX attempts_by_time ON attempts(attempted_at)")
        }
        // Custom headers per subscription: sealed like the secrets, and masked for reading back.
        migrator.registerMigration("v11-subscription-headers") { db in
            try db.execute(sql: "ALTER TABLE subscriptions ADD COLUMN headers TEXT")
            try db.execute(sql: "ALTER TABLE subscriptions ADD COLUMN header_masks TEXT CHECK (header_masks IS NULL OR json_valid(header_masks))")
        }
        // A rate limit per subscription (callbacks per second), and the buckets, in a table of their own
        // that only claims write (when each limited subscription's next callback may leave): on
        // PostgreSQL a claim updating a subscription row could wait on a transaction that waits on the
        // claim's own delivery locks; the same shape on both engines.
        migrator.registerMigration("v12-subscription-rate-limit") { db in
            try db.execute(
                sql: """
                    ALTER TABLE subscriptions ADD COLUMN rate_limit INTEGER CHECK (rate_limit IS NULL OR rate_limit > 0);
                    CREATE TABLE rate_buckets (
                        subscription_id TEXT PRIMARY KEY NOT NULL,
                        ready_at REAL NOT NULL
                    ) WITHOUT ROWID;
                    CREATE INDEX rate_buckets_by_time ON rate_buckets(ready_at);
                    """
            )
        }
        // Operational events name the subscription they are about, which never receives them.
        migrator.registerMigration("v13-events-subject") { db in
            try db.execute(sql: "ALTER TABLE events ADD COLUMN subject TEXT")
        }
        return migrator
    }

    /// Times are unix seconds (REAL). Partial indexes keep the hot queries (due videos, due
    /// deliveries, per-video ordering) proportional to the live work, not to history.
    static let v1 = """
        CREATE TABLE meta (
            key TEXT PRIMARY KEY NOT NULL,
            value TEXT
        ) WITHOUT ROWID;

        CREATE TABLE tenants (
            name TEXT PRIMARY KEY NOT NULL,
            created_at REAL NOT NULL
        ) WITHOUT ROWID;

        CREATE TABLE subscriptions (
            id TEXT PRIMARY KEY NOT NULL,
            tenant TEXT NOT NULL REFERENCES tenants(name),
            url TEXT NOT NULL,
            event_types TEXT CHECK (event_types IS NULL OR json_valid(event_types)),
            video_id TEXT,
            description TEXT,
            enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
            disabled_reason TEXT,
            failing_since REAL,
            paused_until REAL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE INDEX subscriptions_by_tenant ON subscriptions(tenant, id);

        CREATE TABLE subscription_secrets (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            subscription_id TEXT NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
            secret TEXT NOT NULL,
            created_at REAL NOT NULL,
            expires_at REAL
        );
        CREATE INDEX subscription_secrets_by_subscription ON subscription_secrets(subscription_id);

        CREATE TABLE videos (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            tenant TEXT NOT NULL REFERENCES tenants(name),
            video_id TEXT NOT NULL,
            source TEXT NOT NULL CHECK (source IN ('generate', 'watch')),
            observed_status TEXT,
            notified_status TEXT,
            known_status TEXT,
            unknown_seen TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(unknown_seen)),
            video_url TEXT,
            tracking_started_at REAL NOT NULL,
            first_seen_at REAL,
            last_seen_at REAL,
            last_changed_at REAL,
            next_poll_at REAL NOT NULL,
            terminal INTEGER NOT NULL DEFAULT 0 CHECK (terminal IN (0, 1)),
            expired INTEGER NOT NULL DEFAULT 0 CHECK (expired IN (0, 1)),
            UNIQUE (tenant, video_id)
        );
        CREATE INDEX videos_due ON videos(next_poll_at) WHERE terminal = 0;
        CREATE INDEX videos_live_by_upstream_id ON videos(video_id) WHERE terminal = 0;
        CREATE INDEX videos_expiry ON videos(tracking_started_at) WHERE terminal = 0;

        CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            tenant TEXT NOT NULL REFERENCES tenants(name),
            type TEXT NOT NULL,
            video_id TEXT,
            payload TEXT NOT NULL,
            created_at REAL NOT NULL
        );
        CREATE INDEX events_by_tenant ON events(tenant, seq);
        CREATE INDEX events_by_video ON events(tenant, video_id, seq);
        CREATE INDEX events_by_age ON events(created_at);

        CREATE TABLE deliveries (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            event_seq INTEGER NOT NULL REFERENCES events(seq) ON DELETE CASCADE,
            subscription_id TEXT NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
            tenant TEXT NOT NULL,
            ordering_key TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'held', 'succeeded', 'failed', 'cancelled')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL,
            lease_owner TEXT,
            lease_expires_at REAL,
            last_error TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            completed_at REAL
        );
        CREATE INDEX deliveries_due ON deliveries(next_attempt_at) WHERE state = 'pending';
        CREATE INDEX deliveries_open_by_stream ON deliveries(subscription_id, ordering_key, id)
            WHERE state IN ('pending', 'held');
        CREATE INDEX deliveries_by_tenant ON deliveries(tenant, id);
        CREATE INDEX deliveries_by_event ON deliveries(event_seq);
        CREATE INDEX deliveries_done_by_age ON deliveries(completed_at) WHERE state IN ('succeeded', 'cancelled');

        CREATE TABLE attempts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            delivery_id INTEGER NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
            attempted_at REAL NOT NULL,
            status_code INTEGER,
            error_kind TEXT,
            latency_ms REAL NOT NULL,
            response_snippet TEXT
        );
        CREATE INDEX attempts_by_delivery ON attempts(delivery_id);
        """
}
