public import Foundation

/// A subscription's rate limit (`rate_limit`, callbacks per second) as the claim enforces it: a
/// token bucket holding a tenth of a second's callbacks (at least one), kept as one stored time —
/// when the next callback may leave (GCRA: the bucket's "theoretical arrival time" less its burst).
/// Nothing is dropped: a delivery the bucket has no room for stays pending, in its order, and is
/// claimed once the bucket allows.
public struct RateLimit: Sendable, Equatable {
    /// The highest `rate_limit` accepted.
    public static let maximum = 10_000

    public let perSecond: Int

    public init?(perSecond: Int) {
        guard (1...Self.maximum).contains(perSecond) else { return nil }
        self.perSecond = perSecond
    }

    /// Callbacks that may leave back to back: a tenth of a second's worth, at least one.
    public var burst: Int { max(1, perSecond / 10) }

    var interval: Double { 1 / Double(perSecond) }
    var tolerance: Double { Double(burst - 1) * interval }

    /// How many callbacks may leave at `now`, at most `wanted`, given when the next one may leave
    /// (`readyAt`; nil: the bucket is full); and when the one after them may.
    public func take(_ wanted: Int, readyAt: Date?, now: Date) -> (granted: Int, readyAt: Date?) {
        let nowSeconds = now.timeIntervalSince1970
        // The theoretical arrival time: the bucket is empty once it is `tolerance` past now.
        var arrival = max(readyAt.map { $0.timeIntervalSince1970 + tolerance } ?? nowSeconds, nowSeconds)
        var granted = 0
        while granted < wanted, arrival - tolerance <= nowSeconds {
            arrival += interval
            granted += 1
        }
        return (granted, granted == 0 ? readyAt : Date(timeIntervalSince1970: arrival - tolerance))
    }
}

/// The rate limits met by one claim: how much each limited subscription may still send, and the new
/// ready times to store. Engines feed it each candidate's limit as stored.
public struct RateBudgets: Sendable {
    private var left: [String: Int] = [:]
    private var limits: [String: (RateLimit, Date?)] = [:]
    private var taken: [String: Int] = [:]
    private let now: Date

    public init(now: Date) { self.now = now }

    /// Whether one more callback of this subscription may leave now (and counts it if so).
    /// `perSecond` nil: not limited.
    public mutating func take(_ subscriptionID: String, perSecond: Int?, readyAt: Date?) -> Bool {
        guard let perSecond, let limit = RateLimit(perSecond: perSecond) else { return true }
        if limits[subscriptionID] == nil {
            limits[subscriptionID] = (limit, readyAt)
            left[subscriptionID] = limit.take(Int.max, readyAt: readyAt, now: now).granted
        }
        guard let remaining = left[subscriptionID], remaining > 0 else { return false }
        left[subscriptionID] = remaining - 1
        taken[subscriptionID, default: 0] += 1
        return true
    }

    /// Gives back one callback that was not claimed after all (a lease another claim won).
    public mutating func giveBack(_ subscriptionID: String) {
        guard let count = taken[subscriptionID], count > 0 else { return }
        taken[subscriptionID] = count - 1
        left[subscriptionID, default: 0] += 1
    }

    /// Limited subscriptions with nothing left for this claim (left out of its further queries).
    public var exhausted: [String] { left.filter { $0.value == 0 }.map(\.key).sorted() }

    /// The ready time to store for each subscription this claim sent callbacks of.
    public var updates: [(subscriptionID: String, readyAt: Date)] {
        taken.compactMap { id, count in
            guard count > 0, let (limit, readyAt) = limits[id], let next = limit.take(count, readyAt: readyAt, now: now).readyAt else {
                return nil
            }
            return (id, next)
        }.sorted { $0.subscriptionID < $1.subscriptionID }
    }
}
