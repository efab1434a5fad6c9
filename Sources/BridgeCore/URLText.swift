public import Foundation

public enum URLText {
    /// `url` with any `user:password@` replaced by `<redacted>@`, for logs, errors and
    /// `--print-config`: credentials in a URL are secrets like any other.
    public static func redactingCredentials(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return url }
        let authorityStart = schemeEnd.upperBound
        let authorityEnd = url[authorityStart...].firstIndex { "/?#".contains($0) } ?? url.endIndex
        guard let at = url[authorityStart..<authorityEnd].lastIndex(of: "@") else { return url }
        return String(url[..<authorityStart]) + "<redacted>" + String(url[at...])
    }
}
