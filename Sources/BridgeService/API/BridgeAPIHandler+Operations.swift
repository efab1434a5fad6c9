import BridgeAPI
import Foundation
import OpenAPIRuntime

extension BridgeAPIHandler {
    func getHealth(_ input: Operations.GetHealth.Input) async throws -> Operations.GetHealth.Output {
        .ok(.init(body: .json(.init(status: .ok))))
    }

    func getReadiness(_ input: Operations.GetReadiness.Input) async throws -> Operations.GetReadiness.Output {
        let report = await dependencies.readiness.check()
        func check(_ failure: String?) -> Components.Schemas.Check { .init(ok: failure == nil, error: failure) }
        let body = Components.Schemas.Readiness(
            status: report.ready ? .ready : .notReady,
            checks: .init(database: check(report.database), upstream: check(report.upstream))
        )
        return report.ready ? .ok(.init(body: .json(body))) : .serviceUnavailable(.init(body: .json(body)))
    }

    func getMetrics(_ input: Operations.GetMetrics.Input) async throws -> Operations.GetMetrics.Output {
        await .ok(.init(body: .plainText(HTTPBody(dependencies.metrics.render()))))
    }

    func getOpenAPIDocument(_ input: Operations.GetOpenAPIDocument.Input) async throws -> Operations.GetOpenAPIDocument.Output {
        .ok(.init(body: .yaml(HTTPBody(OpenAPISpec.yaml))))
    }
}
