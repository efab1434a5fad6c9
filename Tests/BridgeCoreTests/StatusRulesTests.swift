import BridgeCore
import Foundation
import Testing

@Suite("Tracking rules")
struct StatusRulesTests {
    /// Feeds a sequence of observed statuses through the rules; returns the events' types and the final state.
    func run(_ statuses: [String], from start: TrackingState = TrackingState()) -> ([String], TrackingState) {
        var state = start
        var emitted: [String] = []
        for status in statuses {
            let transition = StatusRules.apply(Observation(videoID: "v", status: status), to: state)
            if let event = transition.event { emitted.append("\(event.type.rawValue)<-\(event.previousStatus ?? "nil")") }
            state = transition.state
        }
        return (emitted, state)
    }

    @Test("the first observation emits, whatever it is", arguments: [
        ("pending", "video.pending<-nil"),
        ("in_progressing", "video.in_progressing<-nil"),
        ("finished", "video.finished<-nil"),
        ("error", "video.error<-nil"),
        ("queued_for_review", "video.status_changed<-nil"),
    ])
    func firstObservation(status: String, expected: String) {
        #expect(run([status]).0 == [expected])
    }

    @Test("each forward change emits exactly once; repeats emit nothing")
    func forward() {
        let (events, state) = run(["pending", "pending", "in_progressing", "in_progressing", "finished", "finished"])
        #expect(events == ["video.pending<-nil", "video.in_progressing<-pending", "video.finished<-in_progressing"])
        #expect(state.isTerminal)
    }

    @Test("a step backwards is recorded but emits nothing, and going forward again emits nothing twice")
    func backwards() {
        var state = run(["pending", "in_progressing"]).1
        let transition = StatusRules.apply(Observation(videoID: "v", status: "pending"), to: state)
        #expect(transition.event == nil)
        #expect(transition.wentBackwards)
        #expect(transition.state.observedStatus == "pending")
        state = transition.state
        let (events, final) = run(["in_progressing", "pending", "in_progressing", "finished"], from: state)
        #expect(events == ["video.finished<-in_progressing"])
        #expect(final.isTerminal)
    }

    @Test("an unknown status emits video.status_changed once per distinct value")
    func unknownStatuses() {
        let (events, state) = run(["pending", "weird", "pending", "weird", "odd", "weird", "in_progressing", "finished"])
        #expect(events == [
            "video.pending<-nil", "video.status_changed<-pending", "video.status_changed<-weird",
            "video.in_progressing<-odd", "video.finished<-in_progressing",
        ])
        #expect(state.unknownStatusesSeen == ["weird", "odd"])
    }

    @Test("terminal videos ignore everything after")
    func terminal() {
        let (events, state) = run(["error", "pending", "finished", "weird"])
        #expect(events == ["video.error<-nil"])
        #expect(state.notifiedStatus == "error" && state.isTerminal)
    }

    @Test("video_url rides on video.finished only")
    func videoURL() {
        let state = run(["in_progressing"]).1
        let transition = StatusRules.apply(
            Observation(videoID: "v", status: "finished", videoURL: "https://cdn/x.mp4"),
            to: state
        )
        #expect(transition.event?.videoURL == "https://cdn/x.mp4")
        #expect(transition.event?.previousStatus == "in_progressing")
    }
}

@Suite("Payload bytes and identifiers")
struct PayloadTests {
    @Test("the callback body is exactly the contract's shape")
    func payload() {
        let body = EventPayload.video(
            type: .finished,
            timestamp: Date(timeIntervalSince1970: 1_795_550_400.123),
            videoID: "v1",
            status: "finished",
            previousStatus: "in_progressing",
            videoURL: "https://cdn/v1.mp4"
        )
        #expect(body == #"{"type":"video.finished","timestamp":"2026-11-24T20:00:00.123Z","data":{"video_id":"v1","status":"finished","previous_status":"in_progressing","video_url":"https://cdn/v1.mp4"}}"#)
        let first = EventPayload.video(
            type: .pending, timestamp: Date(timeIntervalSince1970: 0), videoID: "q\"\\\n", status: "pending",
            previousStatus: nil, videoURL: nil
        )
        #expect(first == #"{"type":"video.pending","timestamp":"1970-01-01T00:00:00.000Z","data":{"video_id":"q\"\\\n","status":"pending","previous_status":null}}"#)
        let parsed = try? JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any]
        #expect((parsed?["data"] as? [String: Any])?["video_id"] as? String == "q\"\\\n")
    }

    @Test("identifiers are prefixed, 26 base32 characters, unique and time-ordered")
    func identifiers() {
        let early = Identifier.make("evt", now: Date(timeIntervalSince1970: 1_000))
        let late = Identifier.make("evt", now: Date(timeIntervalSince1970: 2_000))
        #expect(early < late)
        #expect(Identifier.isValid(early, prefix: "evt"))
        #expect(!Identifier.isValid(early, prefix: "sub"))
        #expect(!Identifier.isValid("evt_short", prefix: "evt"))
        let many = Set((0..<1000).map { _ in Identifier.make("sub") })
        #expect(many.count == 1000)
    }
}

@Suite("Timestamps")
struct TimestampTests {
    @Test("iso8601 matches Foundation's formatter to the millisecond, across leap years, centuries and before 1970")
    func matchesFoundation() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        // Every ~3.7 days for 200 years from 1900 (about 20,000 dates), each a whole millisecond:
        // there both formatters must agree exactly (Foundation rounds a fraction, this truncates).
        var milliseconds: Int64 = -2_208_988_800_000
        var checked = 0
        while milliseconds < 4_102_444_800_000, checked < 50_000 {
            let date = Date(timeIntervalSince1970: Double(milliseconds) / 1000)
            #expect(Timestamp.iso8601(date) == formatter.string(from: date), "\(milliseconds)")
            milliseconds += 317_123_457
            checked += 1
        }
        #expect(Timestamp.iso8601(Date(timeIntervalSince1970: 951_782_400)) == "2000-02-29T00:00:00.000Z")
        #expect(Timestamp.iso8601(Date(timeIntervalSince1970: 1_800_000_000.999)) == "2027-01-15T08:00:00.999Z")
        #expect(Timestamp.iso8601(Date(timeIntervalSince1970: -0.001)) == "1969-12-31T23:59:59.999Z")
        #expect(Timestamp.iso8601(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
    }

    /// What the store's fast path relies on: once a state is the rules' answer to an observation, an
    /// observation with the same status and the same link (or none) changes nothing and emits nothing.
    /// Checked over every state reachable in up to three observations from a mixed set.
    @Test("repeating the last observation changes nothing, from every reachable state")
    func repeatsAreNoOps() {
        let statuses = ["pending", "in_progressing", "finished", "error", "queued_for_review", "moderation"]
        let links: [String?] = [nil, "https://cdn.example.com/a.mp4", "https://cdn.example.com/b.mp4"]
        let observations = statuses.flatMap { status in links.map { Observation(videoID: "v", status: status, videoURL: $0) } }
        var frontier = [TrackingState()]
        var checked = 0
        for _ in 0..<3 {
            var next: [TrackingState] = []
            for state in frontier {
                for observation in observations {
                    let reached = StatusRules.apply(observation, to: state).state
                    next.append(reached)
                    guard !reached.isTerminal, let observed = reached.observedStatus else { continue }
                    for link in [nil, reached.videoURL] {
                        let repeated = StatusRules.apply(Observation(videoID: "v", status: observed, videoURL: link), to: reached)
                        #expect(repeated.state == reached && repeated.event == nil, "repeat of \(observed) \(link ?? "nil") after \(reached)")
                        checked += 1
                    }
                }
            }
            frontier = next
        }
        #expect(checked > 1_000, "the grid was walked")
    }
}
