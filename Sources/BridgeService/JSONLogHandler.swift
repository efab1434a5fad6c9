import BridgeCore
import Foundation
public import Logging

/// One JSON object per line on stderr: `{"ts","level","label","msg",...metadata}`.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    private let label: String

    public init(label: String) { self.label = label }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let extra = event.metadata { fields.merge(extra) { $1 } }
        var line = "{\"ts\":\"\(Timestamp.iso8601(Date()))\",\"level\":\"\(event.level.rawValue)\","
        line += "\"label\":\(JSONString.quote(label)),\"msg\":\(JSONString.quote("\(event.message)"))"
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
            line += ",\(JSONString.quote(key)):\(JSONString.quote("\(value)"))"
        }
        line += "}\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
}
