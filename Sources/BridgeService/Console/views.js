// The console's views. Everything the API returns is shown with textContent, never as HTML: a
// receiver's answer or an event payload is somebody else's text.

import { ApiError, deliveryStatuses, eventTypes } from './api.js';

/// h('tag.class#id', {attributes, on: {event: handler}}, ...children): one element.
export function h(spec, attributes, ...children) {
  const [, tag, rest] = /^([a-z0-9]+)(.*)$/.exec(spec);
  const element = document.createElement(tag);
  for (const part of rest.match(/[.#][^.#]+/g) || []) {
    if (part[0] === '.') element.classList.add(part.slice(1));
    else element.id = part.slice(1);
  }
  for (const [name, value] of Object.entries(attributes || {})) {
    if (name === 'on') {
      for (const [event, handler] of Object.entries(value)) element.addEventListener(event, handler);
    } else if (value === true) {
      element.setAttribute(name, '');
    } else if (value !== false && value !== undefined && value !== null) {
      element.setAttribute(name, String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function when(date) {
  if (!date) return '—';
  const at = new Date(date);
  return at.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

export function ago(seconds) {
  if (seconds === undefined || seconds === null) return '—';
  if (seconds < 1) return 'just now';
  if (seconds < 90) return `${Math.round(seconds)} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 129600) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}

export function age(seconds) {
  if (seconds === undefined || seconds === null) return '—';
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function percent(rate) {
  return rate === undefined || rate === null ? '—' : `${Math.round(rate * 1000) / 10} %`;
}

/// What one attempt came to, in a few words: the status code or the error kind, and how long it took.
export function outcome(attempt) {
  if (!attempt) return 'not attempted yet';
  const what = attempt.status_code ? `HTTP ${attempt.status_code}` : attempt.error || 'no answer';
  return `${what} · ${Math.round(attempt.latency_ms)} ms`;
}

function badge(text, kind) {
  return h(`span.badge.${kind}`, {}, text);
}

function stateBadge(subscription) {
  if (!subscription.enabled) return badge('disabled', 'bad');
  if (subscription.failing_since) return badge('failing', 'warn');
  return badge('enabled', 'good');
}

function statusBadge(status) {
  const kind = { succeeded: 'good', failed: 'bad', held: 'warn', pending: 'neutral', cancelled: 'neutral' }[status] || 'neutral';
  return badge(status, kind);
}

function table(caption, headings, rows, empty) {
  if (rows.length === 0) return h('p.empty', {}, empty);
  return h(
    'div.table-wrap',
    { tabindex: 0, role: 'region', 'aria-label': caption },
    h('table', {}, h('caption.visually-hidden', {}, caption), h('thead', {}, h('tr', {}, headings.map((t) => h('th', { scope: 'col' }, t)))), h('tbody', {}, rows)),
  );
}

function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2)}`;
  input.id = id;
  return h('div.field', {}, h('label', { for: id }, label), input, hint ? h('small', {}, hint) : null);
}

function eventCheckboxes(selected) {
  return h(
    'fieldset.events',
    {},
    h('legend', {}, 'Events (none ticked: every video event and pings; operational ones only when ticked)'),
    eventTypes.map((type) =>
      h('label.check', {}, h('input', { type: 'checkbox', name: 'events', value: type, checked: (selected || []).includes(type) }), type),
    ),
  );
}

function choice(id, anyLabel, values, selected) {
  return h(`select#${id}`, {}, h('option', { value: '' }, anyLabel), values.map((v) => h('option', { value: v, selected: selected === v }, v)));
}

function text(id, placeholder, value) {
  return h(`input#${id}`, { type: 'text', value: value || '', placeholder, autocomplete: 'off' });
}

/// `Name: value` lines as a headers object (blank lines skipped); a line without a colon is refused here,
/// everything else is judged by the API.
function parseHeaders(textarea) {
  const headers = {};
  for (const line of textarea.value.split('\n')) {
    if (!line.trim()) continue;
    const colon = line.indexOf(':');
    if (colon < 1) throw new ApiError(0, 'input', `Custom headers: write each as "Name: value" (not "${line.trim()}").`);
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return headers;
}

function headersText(headers) {
  return headers ? Object.entries(headers).map(([name, value]) => `${name}: ${value}`).join(', ') : 'none';
}

function checkedEvents(form) {
  return Array.from(form.querySelectorAll('input[name=events]:checked'), (box) => box.value);
}

/// The views share one context: the API client, navigation, the notice line and the dialogs.
export class Views {
  constructor(context) {
    this.api = context.api;
    this.go = context.go;
    this.notify = context.notify;
    this.fail = context.fail;
    this.confirm = context.confirm;
    this.showSecret = context.showSecret;
  }

  // MARK: - Subscriptions

  async subscriptions() {
    const [page, health] = await Promise.all([this.api.get('/v1/subscriptions', { limit: 500 }), this.api.get('/v1/health')]);
    const rates = new Map(health.subscriptions.map((s) => [s.id, s]));
    const rows = page.data.map((subscription) => {
      const activity = rates.get(subscription.id) || {};
      return h(
        'tr',
        { 'data-subscription': subscription.id },
        h('td', {}, h('a', { href: `#/subscriptions/${subscription.id}` }, subscription.url), subscription.description ? h('div.muted', {}, subscription.description) : null),
        h('td', {}, stateBadge(subscription), subscription.disabled_reason ? h('div.muted', {}, subscription.disabled_reason) : null),
        h('td', {}, subscription.failing_since ? when(subscription.failing_since) : '—'),
        h('td', {}, percent(activity.success_rate), activity.attempts ? h('div.muted', {}, `${activity.succeeded} of ${activity.attempts}`) : null),
        h('td', {}, subscription.events ? subscription.events.join(', ') : 'every event'),
      );
    });
    return [
      h('h2', {}, 'Subscriptions'),
      table('Subscriptions', ['Callback URL', 'State', 'Failing since', 'Success (last hour)', 'Events'], rows, 'No subscriptions yet. Create one below.'),
      this.createForm(),
    ];
  }

  createForm() {
    const url = h('input', { type: 'url', name: 'url', required: true, placeholder: 'https://hooks.example.com/talking-photo', autocomplete: 'off' });
    const video = h('input', { type: 'text', name: 'video_id', placeholder: 'optional: only this video', autocomplete: 'off' });
    const description = h('input', { type: 'text', name: 'description', maxlength: 500, autocomplete: 'off' });
    const headers = h('textarea', { name: 'headers', rows: 2, placeholder: 'Authorization: Bearer …', autocomplete: 'off' });
    const rate = h('input', { type: 'number', name: 'rate_limit', min: 0, max: 10000, step: 1, placeholder: 'no limit' });
    return this.form(
      'form.card#create-subscription',
      'New subscription',
      async (form) => {
        const body = { url: url.value.trim() };
        const events = checkedEvents(form);
        if (events.length) body.events = events;
        if (video.value.trim()) body.video_id = video.value.trim();
        if (description.value.trim()) body.description = description.value.trim();
        const custom = parseHeaders(headers);
        if (Object.keys(custom).length) body.headers = custom;
        if (rate.value.trim()) body.rate_limit = Number(rate.value);
        const created = await this.api.post('/v1/subscriptions', body);
        await this.showSecret('Subscription created', created.secret);
        this.go(`#/subscriptions/${created.id}`);
      },
      h('h3', {}, 'New subscription'),
      field('Callback URL', url),
      field('Video id', video),
      field('Description', description),
      field('Custom headers', headers, 'One "Name: value" per line, sent with each callback; stored encrypted, shown masked.'),
      field('Rate limit (callbacks per second)', rate, 'Empty or 0: no limit. Callbacks over it wait, in order; none is dropped.'),
      eventCheckboxes([]),
      h('button.primary', { type: 'submit' }, 'Create subscription'),
    );
  }

  /// A form whose submit runs `work(form)` (the page never posts itself); a failure is shown in words.
  form(spec, label, work, ...children) {
    const submit = async (event) => {
      event.preventDefault();
      try {
        await work(event.target);
      } catch (error) {
        this.fail(error);
      }
    };
    return h(spec, { 'aria-label': label, on: { submit } }, ...children);
  }

  async subscription(id, query) {
    const subscription = await this.api.get(`/v1/subscriptions/${encodeURIComponent(id)}`);
    const path = `/v1/subscriptions/${encodeURIComponent(id)}`;
    const act = (label, work, options = {}) =>
      h(`button${options.danger ? '.danger' : ''}`, {
        type: 'button',
        id: options.id,
        on: {
          click: async () => {
            try {
              if (options.confirm && !(await this.confirm(options.confirm))) return;
              const message = await work();
              if (message) this.notify(message);
            } catch (error) {
              this.fail(error);
            }
          },
        },
      }, label);

    const since = h('input', { type: 'datetime-local', step: 1, id: 'replay-since' });
    const replay = this.form(
      'form.inline#replay',
      'Replay',
      async () => {
        if (!since.value) throw new ApiError(0, 'input', 'Choose the time to replay from.');
        const result = await this.api.post(`${path}/replay`, { since: new Date(since.value).toISOString() });
        this.notify(`Replay queued ${result.queued} deliver${result.queued === 1 ? 'y' : 'ies'}${result.more ? '; more are left, replay again' : ''}.`);
        this.go(location.hash, { quiet: true });
      },
      field('Replay events since', since),
      h('button', { type: 'submit' }, 'Replay'),
    );

    const header = h(
      'section.card#subscription',
      { 'aria-label': 'Subscription' },
      h('h2', {}, 'Subscription ', h('code', {}, subscription.id)),
      h(
        'dl.facts',
        {},
        h('dt', {}, 'Callback URL'), h('dd#subscription-url', {}, subscription.url),
        h('dt', {}, 'State'), h('dd#subscription-state', {}, stateBadge(subscription), subscription.disabled_reason ? ` ${subscription.disabled_reason}` : ''),
        h('dt', {}, 'Failing since'), h('dd', {}, subscription.failing_since ? when(subscription.failing_since) : '—'),
        h('dt', {}, 'Events'), h('dd', {}, subscription.events ? subscription.events.join(', ') : 'every event'),
        h('dt', {}, 'Video'), h('dd', {}, subscription.video_id || 'every video'),
        h('dt', {}, 'Description'), h('dd', {}, subscription.description || '—'),
        h('dt', {}, 'Custom headers'), h('dd#subscription-headers', {}, headersText(subscription.headers)),
        h('dt', {}, 'Rate limit'), h('dd#subscription-rate', {}, subscription.rate_limit ? `${subscription.rate_limit} callbacks per second` : 'none'),
        h('dt', {}, 'Created'), h('dd', {}, when(subscription.created_at)),
      ),
      h(
        'div.actions',
        {},
        act('Send test ping', async () => {
          await this.api.post(`${path}/test`);
          this.go(location.hash, { quiet: true });
          return 'Ping queued: watch its delivery below.';
        }, { id: 'send-ping' }),
        subscription.enabled
          ? act('Disable', async () => {
              await this.api.patch(path, { enabled: false });
              this.go(location.hash, { quiet: true });
              return 'Disabled: new deliveries are held until you enable it.';
            }, { id: 'toggle-enabled' })
          : act('Enable', async () => {
              await this.api.patch(path, { enabled: true });
              this.go(location.hash, { quiet: true });
              return 'Enabled: held deliveries are being sent.';
            }, { id: 'toggle-enabled' }),
        act('Rotate secret', async () => {
          const rotated = await this.api.post(`${path}/rotate-secret`);
          await this.showSecret('New signing secret', rotated.secret, 'The previous secret keeps signing beside it for the grace period.');
          return null;
        }, { id: 'rotate-secret', confirm: 'Rotate the signing secret? Receivers need the new one before the grace period ends.' }),
        act('Delete', async () => {
          await this.api.delete(path);
          this.go('#/subscriptions', { notice: 'Subscription deleted.' });
          return null;
        }, { id: 'delete-subscription', danger: true, confirm: `Delete this subscription and its queued deliveries? This cannot be undone.` }),
      ),
      replay,
    );

    return [header, this.editForm(subscription, path), await this.deliveries({ ...query, subscription_id: subscription.id }, { embedded: true })];
  }

  editForm(subscription, path) {
    const url = h('input', { type: 'url', name: 'url', required: true, value: subscription.url, autocomplete: 'off' });
    const description = h('input', { type: 'text', name: 'description', maxlength: 500, value: subscription.description || '', autocomplete: 'off' });
    const headers = h('textarea', { name: 'headers', rows: 2, placeholder: 'Authorization: Bearer …', autocomplete: 'off' });
    const removeHeaders = h('input', { type: 'checkbox', name: 'remove_headers' });
    const rate = h('input', { type: 'number', name: 'rate_limit', min: 0, max: 10000, step: 1, value: subscription.rate_limit || '', placeholder: 'no limit' });
    const form = this.form(
      'form.card#edit-subscription',
      'Edit subscription',
      async (form) => {
        const change = { url: url.value.trim(), events: checkedEvents(form), description: description.value.trim() };
        // Sent only when changed: a change starts the limit afresh.
        if (Number(rate.value || 0) !== (subscription.rate_limit || 0)) change.rate_limit = Number(rate.value || 0);
        const custom = parseHeaders(headers);
        if (removeHeaders.checked) change.headers = {};
        else if (Object.keys(custom).length) change.headers = custom;
        await this.api.patch(path, change);
        this.notify('Saved.');
        this.go(location.hash, { quiet: true });
      },
      h('h3', {}, 'Edit'),
      field('Callback URL', url),
      field('Description', description),
      field('Replace custom headers', headers, 'One "Name: value" per line replaces them all; leave empty to keep them.'),
      h('label.check', {}, removeHeaders, 'Remove every custom header'),
      field('Rate limit (callbacks per second)', rate, 'Empty or 0: no limit.'),
      eventCheckboxes(subscription.events || []),
      h('button.primary', { type: 'submit' }, 'Save changes'),
    );
    return h('details.edit', {}, h('summary', {}, 'Edit URL, events, description, headers, rate limit'), form);
  }

  /// A row of filters that navigates to this view with them in the URL (so a reload or a link keeps them).
  /// `fields`: [label, query name, control]; `kept`: query values carried along unchanged.
  filterForm(label, query, fields, kept = {}) {
    return this.form(
      'form.inline.filters',
      label,
      async () => {
        const next = new URLSearchParams();
        for (const [, name, control] of fields) if (control.value.trim()) next.set(name, control.value.trim());
        for (const [name, value] of Object.entries(kept)) if (value) next.set(name, value);
        const base = location.hash.split('?')[0];
        this.go(next.toString() ? `${base}?${next}` : base);
      },
      fields.map(([text, , control]) => field(text, control)),
      h('button', { type: 'submit' }, 'Filter'),
    );
  }

  // MARK: - Deliveries

  /// A key's deliveries, newest first, live: `refresh` re-reads the page and swaps the rows in place.
  async deliveries(query, options = {}) {
    const filters = this.filterForm('Filter deliveries', query, [
      ['Status', 'status', choice('filter-status', 'any status', deliveryStatuses, query.status)],
      ['Video', 'video_id', text('filter-video', 'video id', query.video_id)],
    ], options.embedded ? {} : { subscription_id: query.subscription_id });
    const body = h('div#deliveries-body');
    const section = h('section#deliveries', { 'aria-label': 'Deliveries' }, h('h2', {}, options.embedded ? 'Deliveries of this subscription' : 'Deliveries'), filters, h('p.muted', {}, 'Newest first; updates every 2 seconds.'), body);
    let shown = null;
    const fill = async () => {
      const page = await this.api.get('/v1/deliveries', {
        order: 'newest',
        limit: 50,
        subscription_id: query.subscription_id,
        status: query.status,
        video_id: query.video_id,
      });
      // Nothing changed: keep the rows as they are (focus, selection and open attempt logs stay).
      const signature = JSON.stringify(page.data);
      if (signature === shown) return;
      shown = signature;
      // Attempt logs the operator opened stay open across refreshes (and are read again), and the
      // control that had the focus gets it back.
      const open = new Set(Array.from(body.querySelectorAll('tr[data-delivery] details[open]'), (d) => d.closest('tr').dataset.delivery));
      const focused = document.activeElement && body.contains(document.activeElement) ? document.activeElement : null;
      const focusRow = focused ? focused.closest('tr[data-delivery]')?.dataset.delivery : null;
      const focusKind = focused ? (focused.matches('button.retry') ? 'button.retry' : 'summary') : null;
      body.replaceChildren(this.deliveryTable(page.data, !options.embedded));
      const row = (id) => body.querySelector(`tr[data-delivery="${CSS.escape(id)}"]`);
      for (const id of open) {
        const details = row(id)?.querySelector('details');
        if (details) details.open = true;
      }
      if (focusRow) row(focusRow)?.querySelector(focusKind)?.focus({ preventScroll: true });
    };
    await fill();
    section.refresh = fill;
    return section;
  }

  deliveryTable(deliveries, showSubscription) {
    const rows = deliveries.map((delivery) => {
      const attempt = delivery.last_attempt;
      const details = h('details.attempts', {
        on: {
          toggle: async (event) => {
            const open = event.target.open;
            if (!open || event.target.dataset.loaded) return;
            event.target.dataset.loaded = '1';
            try {
              const full = await this.api.get(`/v1/deliveries/${delivery.id}`);
              event.target.append(this.attemptLog(full.attempt_log));
            } catch (error) {
              delete event.target.dataset.loaded; // opening it again tries again
              this.fail(error);
            }
          },
        },
      }, h('summary', {}, `${delivery.attempts} attempt${delivery.attempts === 1 ? '' : 's'}`));
      return h(
        'tr',
        { 'data-delivery': delivery.id, 'data-status': delivery.status },
        h('td', {}, h('code', {}, delivery.id), h('div.muted', {}, when(delivery.created_at))),
        h('td', {}, delivery.event_type, delivery.video_id ? h('div.muted', {}, delivery.video_id) : null),
        showSubscription ? h('td', {}, h('a', { href: `#/subscriptions/${delivery.subscription_id}` }, h('code', {}, delivery.subscription_id))) : null,
        h('td.status', {}, statusBadge(delivery.status)),
        h('td.outcome', {}, outcome(attempt), attempt && attempt.response ? h('pre.excerpt', {}, attempt.response) : null, details),
        h(
          'td',
          {},
          delivery.status === 'pending' && delivery.attempts > 0 ? h('div.muted', {}, `next try ${when(delivery.next_attempt_at)}`) : null,
          h('button.retry', {
            type: 'button',
            'aria-label': `Retry delivery ${delivery.id}`,
            on: {
              click: async () => {
                try {
                  await this.api.post(`/v1/deliveries/${delivery.id}/retry`);
                  this.notify(`Delivery ${delivery.id} queued again.`);
                  this.go(location.hash, { quiet: true });
                } catch (error) {
                  this.fail(error);
                }
              },
            },
          }, 'Retry'),
        ),
      );
    });
    const headings = ['Delivery', 'Event', ...(showSubscription ? ['Subscription'] : []), 'Status', 'Last attempt', ''];
    return table('Deliveries', headings, rows, 'No deliveries match.');
  }

  attemptLog(attempts) {
    if (attempts.length === 0) return h('p.muted', {}, 'No attempt yet.');
    return h(
      'ol.attempt-log',
      {},
      attempts.map((attempt) => h('li', {}, h('span', {}, `${when(attempt.attempted_at)}: ${outcome(attempt)}`), attempt.response ? h('pre.excerpt', {}, attempt.response) : null)),
    );
  }

  // MARK: - Events

  async events(query) {
    const filters = this.filterForm('Filter events', query, [
      ['Type', 'type', choice('events-type', 'any type', eventTypes, query.type)],
      ['Video', 'video_id', text('events-video', 'video id', query.video_id)],
    ]);
    const list = h('div#events-list');
    const more = h('button#events-more', { type: 'button', hidden: true }, 'Older entries: next page');
    let cursor = query.after;
    const load = async () => {
      const page = await this.api.get('/v1/events', { after: cursor, video_id: query.video_id, type: query.type, limit: 100 });
      for (const event of page.data) list.append(this.eventEntry(event));
      if (list.childElementCount === 0) list.append(h('p.empty', {}, 'No events match.'));
      cursor = page.next_cursor;
      more.hidden = page.data.length < 100;
    };
    more.addEventListener('click', () => load().catch((error) => this.fail(error)));
    await load();
    return [h('h2', {}, 'Event log'), filters, h('p.muted', {}, 'Oldest first, as callbacks were sent.'), list, more];
  }

  eventEntry(event) {
    let payload = event.payload;
    try {
      payload = JSON.stringify(JSON.parse(event.payload), null, 2);
    } catch {
      // shown as stored
    }
    return h(
      'details.event',
      { 'data-event': event.id },
      h('summary', {}, h('code', {}, event.id), ' ', event.type, event.video_id ? ` · ${event.video_id}` : '', h('span.muted', {}, ` · ${when(event.created_at)}`)),
      h('pre.payload', {}, payload),
    );
  }

  // MARK: - Health

  async health() {
    const health = await this.api.get('/v1/health');
    const rows = health.subscriptions.map((s) =>
      h(
        'tr',
        {},
        h('td', {}, h('a', { href: `#/subscriptions/${s.id}` }, s.url)),
        h('td', {}, stateBadge(s)),
        h('td', {}, percent(s.success_rate)),
        h('td', {}, `${s.succeeded} / ${s.attempts}`),
        h('td', {}, s.last_attempt_at ? when(s.last_attempt_at) : '—'),
      ),
    );
    const poller = health.poller.seconds_since_last_cycle;
    return [
      h('h2', {}, 'Health'),
      h(
        'div.tiles',
        {},
        h('div.tile#health-pending', {}, h('span.figure', {}, String(health.queue.pending)), h('span.label', {}, 'pending deliveries')),
        h('div.tile#health-held', {}, h('span.figure', {}, String(health.queue.held)), h('span.label', {}, 'held (subscription disabled)')),
        h('div.tile#health-oldest', {}, h('span.figure', {}, age(health.queue.oldest_pending_age_seconds)), h('span.label', {}, 'oldest pending delivery')),
        h('div.tile#health-poller', {}, h('span.figure', {}, ago(poller)), h('span.label', {}, 'last poll cycle')),
        h(
          'div.tile#health-account',
          {},
          h('span.figure', {}, health.upstream_account === 'own' ? 'own' : 'shared'),
          h('span.label', {}, health.upstream_account === 'own' ? 'upstream account (this key\'s own token)' : 'upstream account (the shared token)'),
        ),
      ),
      h('h3', {}, `Subscriptions, last ${Math.round(health.window_seconds / 60)} minutes`),
      table('Subscription health', ['Callback URL', 'State', 'Success rate', 'Succeeded / attempts', 'Last attempt'], rows, 'No subscriptions yet.'),
    ];
  }
}
