// The bridge's /v1 API as the console calls it: the key the operator typed, sent as Bearer, and every
// failure turned into words (an ApiError with the API's own message when it sent one).

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/// A random Idempotency-Key, so a double click or a retried request does nothing twice.
function idempotencyKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return 'console-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export class Api {
  constructor(key) {
    this.key = key;
  }

  async call(method, path, body) {
    const headers = { Authorization: `Bearer ${this.key}`, Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (method === 'POST') headers['Idempotency-Key'] = idempotencyKey();
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
        credentials: 'omit',
      });
    } catch (error) {
      throw new ApiError(0, 'network', `The bridge did not answer (${error.message}). Is it running?`);
    }
    if (response.status === 204) return null;
    const text = await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        throw new ApiError(response.status, 'bad_response', `The bridge answered ${response.status} with something that is not JSON.`);
      }
    }
    if (!response.ok) {
      const error = data && data.error;
      const message = error && error.message ? error.message : `The bridge answered ${response.status}.`;
      throw new ApiError(response.status, error && error.code ? error.code : `http_${response.status}`, message);
    }
    return data;
  }

  get(path, query) {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query || {})) {
      if (value !== undefined && value !== null && value !== '') params.set(name, value);
    }
    const suffix = params.toString();
    return this.call('GET', suffix ? `${path}?${suffix}` : path);
  }

  post(path, body) {
    return this.call('POST', path, body);
  }

  patch(path, body) {
    return this.call('PATCH', path, body);
  }

  delete(path) {
    return this.call('DELETE', path);
  }
}

export const eventTypes = [
  'video.pending',
  'video.in_progressing',
  'video.finished',
  'video.error',
  'video.status_changed',
  'video.tracking_expired',
  'ping',
  'subscription.disabled',
  'delivery.failed',
  'subscription.recovered',
];

export const deliveryStatuses = ['pending', 'held', 'succeeded', 'failed', 'cancelled'];
