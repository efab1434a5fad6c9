import ArgumentParser

@main
struct TalkingPhotoBridge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "talking-photo-bridge",
        abstract: "Push notifications (signed webhooks) for the poll-only Talking Photo API.",
        discussion: """
            Start with `serve --help` (the service) or `demo` (everything on loopback, callbacks printed).
            """,
        subcommands: [Serve.self, Simulate.self, Demo.self, Migrate.self, Backup.self, Rekey.self, CopyStore.self, Keys.self, Healthcheck.self]
    )
}
