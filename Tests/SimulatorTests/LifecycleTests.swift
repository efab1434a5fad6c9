import Foundation
import Simulator
import TestSupport
import Testing

@Suite struct LifecycleTests {
    @Test func pendingThenInProgressingThenFinished() async throws {
        let clock = ManualClock()
        // Default pending phase: a quarter of the render time.
        try await withSimulator(SimulatorConfiguration(renderTime: .seconds(8)), clock: clock) { simulator in
            let id = try await generate(simulator)
            #expect(isVideoID(id))
            #expect(try await getVideo(simulator, id)["status"] as? String == "pending")
            clock.advance(seconds: 1.9)
            #expect(try await getVideo(simulator, id)["status"] as? String == "pending")
            clock.advance(seconds: 0.2)
            #expect(try await getVideo(simulator, id)["status"] as? String == "in_progressing")
            clock.advance(seconds: 6)
            let video = try await getVideo(simulator, id)
            #expect(video["status"] as? String == "finished")
            #expect(video["video_url"] as? String == "\(simulator.baseURL)/videos/\(id).mp4")
            #expect(simulator.control.status(ofVideo: id) == "finished")
        }
    }

    @Test func explicitPendingTime() async throws {
        let clock = ManualClock()
        let configuration = SimulatorConfiguration(renderTime: .seconds(10), pendingTime: .seconds(6))
        try await withSimulator(configuration, clock: clock) { simulator in
            let id = try await generate(simulator)
            clock.advance(seconds: 5)
            #expect(try await getVideo(simulator, id)["status"] as? String == "pending")
            clock.advance(seconds: 2)
            #expect(try await getVideo(simulator, id)["status"] as? String == "in_progressing")
        }
    }

    @Test func errorRatioOneEndsInError() async throws {
        let clock = ManualClock()
        let configuration = SimulatorConfiguration(renderTime: .seconds(4), errorRatio: 1)
        try await withSimulator(configuration, clock: clock) { simulator in
            let id = try await generate(simulator)
            #expect(try await getVideo(simulator, id)["status"] as? String == "pending")
            clock.advance(seconds: 2)
            #expect(try await getVideo(simulator, id)["status"] as? String == "in_progressing")
            clock.advance(seconds: 2)
            let video = try await getVideo(simulator, id)
            #expect(video["status"] as? String == "error")
            #expect(video["video_url"] == nil)
        }
    }

    @Test func zeroRenderTimeFinishesAtOnce() async throws {
        try await withSimulator(SimulatorConfiguration(renderTime: .zero)) { simulator in
            let id = try await generate(simulator)
            #expect(try await getVideo(simulator, id)["status"] as? String == "finished")
        }
    }

    @Test func errorRatioIsReproducibleWithASeed() async throws {
        func outcomes() async throws -> [String] {
            let configuration = SimulatorConfiguration(renderTime: .zero, errorRatio: 0.5, seed: 42)
            return try await withSimulator(configuration) { simulator in
                let ids = simulator.control.createVideos(count: 64, pinnedStatus: nil)
                return ids.map { simulator.control.status(ofVideo: $0) ?? "?" }
            }
        }
        let first = try await outcomes()
        let second = try await outcomes()
        #expect(first == second)
        #expect(first.contains("error") && first.contains("finished"))
    }

    @Test func pinAndUnpin() async throws {
        let clock = ManualClock()
        try await withSimulator(SimulatorConfiguration(renderTime: .seconds(100)), clock: clock) { simulator in
            let id = try await generate(simulator)
            #expect(simulator.control.pin(videoID: id, status: "moderation", videoURL: nil))
            #expect(try await getVideo(simulator, id)["status"] as? String == "moderation")
            #expect(simulator.control.pin(videoID: id, status: "finished", videoURL: "https://cdn.example.com/v.mp4"))
            #expect(try await getVideo(simulator, id)["video_url"] as? String == "https://cdn.example.com/v.mp4")
            #expect(simulator.control.unpin(videoID: id))
            #expect(try await getVideo(simulator, id)["status"] as? String == "pending")
            #expect(!simulator.control.pin(videoID: "nope", status: "finished", videoURL: nil))
            #expect(!simulator.control.unpin(videoID: "nope"))
        }
    }
}
