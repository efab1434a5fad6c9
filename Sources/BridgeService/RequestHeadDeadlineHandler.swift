import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// The settings that keep slow or idle clients from holding connections.
struct ConnectionLimits: Sendable {
    var headerTimeout: Duration = .seconds(10)
    var idleTimeout: Duration = .seconds(60)
    var maxConnections = 1000
}

/// Closes a connection whose next complete request head does not arrive in time: `headerTimeout`
/// after the connection opens, `idleTimeout` after the last response ends (a keep-alive connection
/// left idle, or one that starts a request and stalls). While a request is being handled there is no
/// deadline, so long polls and slow handlers are not cut. A total deadline, not an idle one: a client
/// dribbling one byte at a time (slowloris) is closed all the same.
///
/// Sits after the HTTP/1 codec, so it sees whole request heads; all of it runs on the channel's
/// event loop.
final class RequestHeadDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let headerTimeout: TimeAmount
    private let idleTimeout: TimeAmount
    private var deadline: Scheduled<Void>?
    /// Requests whose head arrived and whose response has not ended.
    private var inProgress = 0

    init(headerTimeout: Duration, idleTimeout: Duration) {
        self.headerTimeout = TimeAmount(headerTimeout)
        self.idleTimeout = TimeAmount(idleTimeout)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        arm(headerTimeout, context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) {
            inProgress += 1
            deadline?.cancel()
            deadline = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            inProgress = max(0, inProgress - 1)
            if inProgress == 0 { arm(idleTimeout, context: context) }
        }
        context.write(data, promise: promise)
    }

    private func arm(_ timeout: TimeAmount, context: ChannelHandlerContext) {
        deadline?.cancel()
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(in: timeout) {
            loopBound.value.close(promise: nil)
        }
    }
}
