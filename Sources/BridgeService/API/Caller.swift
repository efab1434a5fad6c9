/// The authenticated caller of the current request: the name of its API key, which owns everything
/// it creates. Set by ``AuthMiddleware``; handlers only read it.
enum Caller {
    @TaskLocal static var tenant: String?

    static func required() throws -> String {
        guard let tenant else { throw BridgeError.unauthorized }
        return tenant
    }
}
