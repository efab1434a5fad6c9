import CurlHTTP
import Foundation

/// The fast path for `video.list`: a well-formed success envelope (`code` 0 as a number, `data` an
/// array, ids as strings) decoded with `JSONDecoder` into small structs. Returns nil for anything else
/// (error codes, HTML, truncation, numeric ids, a non-array `data`), and the caller falls back to
/// ``EnvelopeDecoder``, whose results this path matches item for item: an item without a string id
/// or a non-empty string status is unreadable; a `video_url` that is not a string is ignored.
enum FastVideoList {
    static func decode(_ response: OutboundResponse) -> UpstreamVideoList? {
        if let type = response.headers["content-type"], type.lowercased().contains("html") { return nil }
        guard let envelope = try? JSONDecoder().decode(Envelope.self, from: response.body),
              envelope.code == 0, let items = envelope.data, !items.contains(where: \.needsTolerantPath)
        else { return nil }
        var videos: [UpstreamVideo] = []
        videos.reserveCapacity(items.count)
        var unreadable = 0
        for item in items {
            if let video = item.video { videos.append(video) } else { unreadable += 1 }
        }
        return UpstreamVideoList(videos: videos, unreadableItems: unreadable)
    }

    private struct Envelope: Decodable {
        let code: Int
        let data: [Item]?
    }

    private struct Item: Decodable {
        var video: UpstreamVideo?
        /// The id is there but not a string (a number): the tolerant path knows how to read it.
        var needsTolerantPath = false

        enum Keys: String, CodingKey {
            case videoID = "video_id"
            case status
            case videoURL = "video_url"
        }

        init(from decoder: any Decoder) throws {
            guard let object = try? decoder.container(keyedBy: Keys.self) else { return }
            guard let id = try? object.decodeIfPresent(String.self, forKey: .videoID) else {
                needsTolerantPath = object.contains(.videoID) && !((try? object.decodeNil(forKey: .videoID)) ?? false)
                return
            }
            guard !id.isEmpty, let status = try? object.decodeIfPresent(String.self, forKey: .status), !status.isEmpty else { return }
            let url = (try? object.decodeIfPresent(String.self, forKey: .videoURL)) ?? nil
            video = UpstreamVideo(id: id, status: VideoStatus(status), videoURL: url)
        }
    }
}
