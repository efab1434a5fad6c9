public import Foundation

/// Anything that can send one HTTP request and hand back the response. The product's only
/// implementation is ``CurlTransport``; the protocol exists so callers depend on behaviour, not on curl.
public protocol HTTPTransport: Sendable {
    /// Sends `request` and returns the response as received: redirects are never followed,
    /// so a 3xx comes back as is. Every failure is a typed ``CurlError``; nothing traps.
    func send(_ request: OutboundRequest) async throws(CurlError) -> OutboundResponse
}

/// Ordered, case-insensitive HTTP header fields.
public struct HeaderFields: Sendable, Equatable, Sequence, ExpressibleByDictionaryLiteral {
    public struct Field: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    public private(set) var fields: [Field] = []

    public init() {}

    public init(dictionaryLiteral elements: (String, String)...) {
        for (name, value) in elements { add(name: name, value: value) }
    }

    public mutating func add(name: String, value: String) {
        fields.append(Field(name: name, value: value))
    }

    /// Replaces every field called `name` with one holding `value`.
    public mutating func replaceOrAdd(name: String, value: String) {
        fields.removeAll { Self.sameName($0.name, name) }
        add(name: name, value: value)
    }

    public subscript(name: String) -> String? {
        fields.first { Self.sameName($0.name, name) }?.value
    }

    /// Header names are ASCII tokens: compare them byte by byte, case-folded, without Foundation.
    static func sameName(_ lhs: String, _ rhs: String) -> Bool {
        var left = lhs.utf8.makeIterator()
        var right = rhs.utf8.makeIterator()
        while true {
            switch (left.next(), right.next()) {
            case (nil, nil): return true
            case (let a?, let b?):
                if a == b { continue }
                if a | 0x20 == b | 0x20, (a | 0x20) >= 0x61, (a | 0x20) <= 0x7A { continue }
                return false
            default: return false
            }
        }
    }

    public func makeIterator() -> IndexingIterator<[Field]> { fields.makeIterator() }
}

public struct OutboundRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: HeaderFields
    public var body: Data?
    /// Whole-transfer budget, connect included.
    public var timeout: Duration
    public var connectTimeout: Duration
    /// Bodies longer than this fail with ``CurlError/bodyTooLarge(limit:)``, unless
    /// `truncateLongBodies` is set: then the first `maxResponseBytes` are kept and the rest discarded.
    public var maxResponseBytes: Int
    public var truncateLongBodies: Bool
    /// Sees every address curl is about to use for this request (new and reused connections alike)
    /// and may veto it. `nil` allows every address.
    public var destinationCheck: (@Sendable (IPAddress) -> Bool)?
    /// Name resolution pinned for this request, curl's `--resolve`: `host:port:address[,address…]`
    /// entries. Empty: the system resolver.
    public var resolve: [String] = []

    public init(
        method: String = "GET",
        url: String,
        headers: HeaderFields = [:],
        body: Data? = nil,
        timeout: Duration = .seconds(10),
        connectTimeout: Duration = .seconds(5),
        maxResponseBytes: Int = 1 << 20,
        truncateLongBodies: Bool = false,
        destinationCheck: (@Sendable (IPAddress) -> Bool)? = nil
    ) {
        self.truncateLongBodies = truncateLongBodies
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.connectTimeout = connectTimeout
        self.maxResponseBytes = maxResponseBytes
        self.destinationCheck = destinationCheck
    }
}

public struct OutboundResponse: Sendable {
    public var status: Int
    public var headers: HeaderFields
    public var body: Data
    /// The peer this response came from, as curl connected to it.
    public var remoteAddress: IPAddress?
    /// From hand-over to the transport until the last byte.
    public var duration: Duration
    /// Whether the transfer opened a new connection (false: one from the pool was reused).
    public var openedConnection: Bool

    public init(
        status: Int,
        headers: HeaderFields = [:],
        body: Data = Data(),
        remoteAddress: IPAddress? = nil,
        duration: Duration = .zero,
        openedConnection: Bool = false
    ) {
        self.status = status
        self.headers = headers
        self.body = body
        self.remoteAddress = remoteAddress
        self.duration = duration
        self.openedConnection = openedConnection
    }

    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}
