import ArgumentParser
import CurlHTTP
import Foundation
import Logging
import Simulator
import TalkingPhoto

/// What `make demo` runs. Today it shows the pieces that exist: the upstream simulator and the
/// libcurl-based upstream client watching renders progress with one `video.list` call per cycle.
/// The bridge service itself (events, signed callbacks) joins this command when `serve` exists.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the upstream simulator and watch a few renders through the upstream client.",
        discussion: """
            Starts the simulator on --listen, submits --videos renders through the libcurl client and polls
            them with one video.list call per cycle, printing every status change as it is observed.
            The bridge service (signed callbacks to a verifying receiver) is not part of this build yet.
            """
    )

    @Option(help: "Where the simulator listens (host:port).")
    var listen = "127.0.0.1:8090"

    @Option(help: "How many renders to submit.")
    var videos = 3

    @Option(help: "Simulated render time per video, e.g. 4s.")
    var renderTime = "4s"

    @Option(help: "How often to poll video.list, e.g. 500ms.")
    var pollInterval = "1s"

    func validate() throws {
        guard (1...50).contains(videos) else { throw ValidationError("--videos must be between 1 and 50") }
        guard parseSimulatorDuration(renderTime) != nil else { throw ValidationError("--render-time: not a duration") }
        guard let interval = parseSimulatorDuration(pollInterval), interval > .zero else {
            throw ValidationError("--poll-interval: not a positive duration")
        }
        guard parseSimulatorListenAddress(listen) != nil else { throw ValidationError("--listen must be host:port") }
    }

    func run() async throws {
        guard let address = parseSimulatorListenAddress(listen), let render = parseSimulatorDuration(renderTime),
            let interval = parseSimulatorDuration(pollInterval)
        else { throw ValidationError("invalid options") }
        var logger = Logger(label: "bridge.demo")
        logger.logLevel = .warning
        let simulator = try await UpstreamSimulator.start(
            SimulatorConfiguration(host: address.host, port: address.port, renderTime: render, errorRatio: 0.2),
            logger: logger
        )
        let transport = try CurlTransport()
        defer { transport.shutdown() }
        let client = TalkingPhotoClient(
            configuration: .init(baseURL: simulator.baseURL, token: UpstreamToken("sim-token")),
            transport: transport
        )
        print("simulator listening on \(simulator.baseURL) (token sim-token), libcurl \(CurlTransport.libcurlVersion)")

        var statuses: [String: VideoStatus] = [:]
        for index in 1...videos {
            let video = try await client.generate(
                audioURL: "https://example.com/voice-\(index).mp3",
                imageURL: "https://example.com/face-\(index).jpg"
            )
            statuses[video.id] = video.status
            print("submitted \(video.id)  status=\(video.status)")
        }
        let clock = ContinuousClock()
        let started = clock.now
        var cycles = 0
        while statuses.values.contains(where: { !$0.isTerminal }), clock.now - started < .seconds(120) {
            try await Task.sleep(for: interval)
            cycles += 1
            do {
                let list = try await client.listVideos()
                for video in list.videos where statuses[video.id] != nil && statuses[video.id] != video.status {
                    let previous = statuses[video.id]?.rawValue ?? "-"
                    statuses[video.id] = video.status
                    let url = video.videoURL.map { "  video_url=\($0)" } ?? ""
                    print("changed   \(video.id)  \(previous) -> \(video.status)\(url)")
                }
            } catch {
                print("poll failed (\(error.kind)); retrying next cycle")
            }
        }
        let calls = simulator.control.callCounts()
        print(
            "done: \(videos) videos, \(cycles) poll cycles, upstream calls generate=\(calls.generate) "
                + "list=\(calls.list) get=\(calls.get) (one video.list per cycle, whatever the number of videos)"
        )
        await simulator.stop()
    }
}
