import ArgumentParser

@main
struct TalkingPhotoBridge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "talking-photo-bridge",
        abstract: "Push notifications (signed webhooks) for the poll-only Talking Photo API.",
        discussion: """
            Subcommands:
              serve     the bridge service (poller today; callbacks and the HTTP API land next)
              simulate  run a stand-in for the upstream Talking Photo API, with fault knobs
              demo      run the simulator and show the upstream client polling it
            """,
        subcommands: [Serve.self, Simulate.self, Demo.self]
    )
}
