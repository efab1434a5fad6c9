public import CoreMetrics

/// Delivery metrics through swift-metrics (Prometheus in `serve`). Labels stay bounded: outcomes and
/// reasons, never URLs or ids.
public struct DeliveryMetrics: Sendable {
    private let factory: any MetricsFactory

    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
    }

    /// One finished attempt: `succeeded`, `retry`, `failed`, `gone`, `throttled` or `released`.
    func attempt(outcome: String, latency: Duration) {
        Counter(label: "bridge_delivery_attempts_total", dimensions: [("outcome", outcome)], factory: factory).increment()
        let (seconds, attoseconds) = latency.components
        Timer(label: "bridge_delivery_attempt_duration_seconds", dimensions: [], factory: factory)
            .recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    /// A subscription disabled automatically: `gone` (410) or `failing` (too long without success).
    func subscriptionDisabled(reason: String) {
        Counter(label: "bridge_subscriptions_disabled_total", dimensions: [("reason", reason)], factory: factory).increment()
    }
}
