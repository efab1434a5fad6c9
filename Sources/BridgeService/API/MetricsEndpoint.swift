import BridgeStore
import Foundation
import Metrics
import Prometheus

/// Prometheus text for `/metrics`. Counters and histograms come from swift-metrics (poller and
/// dispatcher record them); queue gauges are read from the database at scrape time, so they are
/// right even after a restart.
final class MetricsEndpoint: Sendable {
    let registry: PrometheusCollectorRegistry
    private let store: any MaintenanceStore
    private let pending: Prometheus.Gauge
    private let held: Prometheus.Gauge
    private let oldest: Prometheus.Gauge
    private let disabled: Prometheus.Gauge

    init(registry: PrometheusCollectorRegistry, store: any MaintenanceStore) {
        self.registry = registry
        self.store = store
        func name(_ metric: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(metricName: metric, unitName: "", helpText: help)
        }
        let queued = name("bridge_deliveries_queued", "Deliveries waiting to be sent, by state")
        pending = registry.makeGauge(descriptor: queued, labels: [("state", "pending")])
        held = registry.makeGauge(descriptor: queued, labels: [("state", "held")])
        oldest = registry.makeGauge(descriptor: name("bridge_oldest_pending_delivery_age_seconds", "Age of the oldest pending delivery"))
        disabled = registry.makeGauge(descriptor: name("bridge_subscriptions_disabled", "Subscriptions currently disabled"))
    }

    func render() async -> String {
        if let depth = try? await store.queueDepth(now: Date()) {
            pending.set(to: Double(depth.pending))
            held.set(to: Double(depth.held))
            oldest.set(to: depth.oldestPendingAge)
        }
        if let count = try? await store.disabledSubscriptionCount() { disabled.set(to: Double(count)) }
        return registry.emitToString()
    }
}
