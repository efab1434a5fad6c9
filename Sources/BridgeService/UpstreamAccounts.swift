public import BridgeStore
public import CurlHTTP
public import TalkingPhoto

/// The Talking Photo accounts the bridge calls: one per distinct token of `BRIDGE_UPSTREAM_TOKENS`
/// (the tenants it names), and the shared `SURREAL_API_TOKEN`'s for every other tenant. A tenant's
/// calls — generate, get, watch, and the poller's for its videos — only ever use its own account's
/// client, and the poller lists each account once per cycle over that account's tenants only.
public struct UpstreamAccounts: Sendable {
    public struct Account: Sendable {
        /// For logs and metrics: `shared`, or the tenants it serves joined by `+`. Never the token.
        public let name: String
        /// The tenants whose videos this account holds.
        public let scope: TenantScope
        public let client: TalkingPhotoClient
    }

    /// The shared account first (when there is one), then the others by name.
    public let accounts: [Account]
    private let ownAccount: [String: Int]
    private let sharedAccount: Int?
    /// For what does not depend on the account (is the upstream reachable?).
    public let anyClient: TalkingPhotoClient

    /// One account for every tenant (tests, the demo, a bridge without per-tenant tokens).
    public init(shared client: TalkingPhotoClient) {
        accounts = [Account(name: "shared", scope: .all, client: client)]
        ownAccount = [:]
        sharedAccount = 0
        anyClient = client
    }

    /// From the configuration's tokens, each account's client on `transport`. A tenant whose own token
    /// is the shared one is on the shared account (one account, one list per cycle).
    public init(configuration: BridgeConfiguration, transport: any HTTPTransport) {
        func client(_ token: UpstreamToken) -> TalkingPhotoClient {
            TalkingPhotoClient(
                configuration: .init(baseURL: configuration.upstreamBaseURL, token: token, timeout: configuration.upstreamTimeout),
                transport: transport
            )
        }
        let shared = configuration.upstreamToken
        var tenantsByToken: [UpstreamToken: [String]] = [:]
        for (tenant, token) in configuration.upstreamTokens where token != shared { tenantsByToken[token, default: []].append(tenant) }
        let own = tenantsByToken.map { (token: $0.key, tenants: $0.value.sorted()) }.sorted { $0.tenants[0] < $1.tenants[0] }
        var accounts: [Account] = []
        var ownAccount: [String: Int] = [:]
        var sharedAccount: Int?
        if !shared.isEmpty {
            let excluded = own.flatMap(\.tenants).sorted()
            accounts.append(Account(name: "shared", scope: excluded.isEmpty ? .all : .except(excluded), client: client(shared)))
            sharedAccount = 0
        }
        for account in own {
            for tenant in account.tenants { ownAccount[tenant] = accounts.count }
            accounts.append(Account(name: account.tenants.joined(separator: "+"), scope: .only(account.tenants), client: client(account.token)))
        }
        self.accounts = accounts
        self.ownAccount = ownAccount
        self.sharedAccount = sharedAccount
        anyClient = accounts.first?.client ?? client(shared)
    }

    /// Whether the tenant has an account of its own (else it shares the shared token's).
    public func hasOwnAccount(_ tenant: String) -> Bool { ownAccount[tenant] != nil }

    /// The account a tenant's calls use; nil when it has none (the configuration refuses that).
    public func account(for tenant: String) -> Account? {
        (ownAccount[tenant] ?? sharedAccount).map { accounts[$0] }
    }
}
