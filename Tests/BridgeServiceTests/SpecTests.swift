import BridgeCore
import Foundation
import TestSupport
import Testing

@Suite("OpenAPI document")
struct SpecTests {
    @Test("every event type the bridge records is in the spec's EventType enum (the API maps them by name)")
    func eventTypesInSpec() throws {
        let spec = try String(contentsOf: repositoryRoot().appendingPathComponent("openapi/bridge.yaml"), encoding: .utf8)
        let block = try #require(spec.range(of: "    EventType:\n")).upperBound
        let end = try #require(spec[block...].range(of: "]")).upperBound
        let enumeration = spec[block..<end].split(separator: "enum: [").last.map(String.init) ?? ""
        let listed = Set(enumeration.split(whereSeparator: { ", []\n".contains($0) }).map(String.init))
        #expect(listed == Set(EventType.allCases.map(\.rawValue)), "\(listed)")
    }

    @Test("openapi/bridge.yaml validates with openapi-spec-validator")
    func validates() async throws {
        let spec = repositoryRoot().appendingPathComponent("openapi/bridge.yaml").path
        let script = """
            import sys
            from openapi_spec_validator import validate
            from openapi_spec_validator.readers import read_from_filename
            document, _ = read_from_filename(sys.argv[1])
            validate(document)
            print("valid")
            """
        let (status, output) = try await runCommand("/usr/bin/env", ["python3", "-c", script, spec])
        #expect(status == 0 && output.contains("valid"), "\(output)")
    }
}
