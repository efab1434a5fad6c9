// The console's shell: sign-in (the key lives in sessionStorage, for this tab only), navigation by
// the URL's #fragment, the notice and error lines, the dialogs, and the live refresh of the view.

import { Api, ApiError } from './api.js';
import { h, Views } from './views.js';

const keyName = 'talking-photo-bridge.key';
const refreshEvery = 2000;

const main = document.getElementById('view');
const signIn = document.getElementById('sign-in');
const nav = document.getElementById('nav');
const notice = document.getElementById('notice');
const problem = document.getElementById('problem');
const signOut = document.getElementById('sign-out');
const dialog = document.getElementById('dialog');

let views = null;
let timer = null;
let generation = 0;
let pendingNotice = null;

function notify(message) {
  problem.hidden = true;
  notice.textContent = message;
  notice.hidden = false;
}

/// Every failure in words: what the API said, or what went wrong on the way to it.
function fail(error) {
  const message = error instanceof ApiError ? describe(error) : `Something went wrong in the console: ${error.message || error}`;
  notice.hidden = true;
  problem.replaceChildren(h('strong', {}, 'Error: '), message);
  problem.hidden = false;
  if (error instanceof ApiError && error.status === 401) leave('That key was not accepted. Sign in again.');
}

function describe(error) {
  if (error.status === 0) return error.message;
  return `${error.message} (HTTP ${error.status}, ${error.code})`;
}

/// A modal question; resolves true when the operator confirms.
function confirm(question) {
  return new Promise((resolve) => {
    const yes = h('button.danger#confirm-yes', { type: 'button' }, 'Yes, go ahead');
    const no = h('button#confirm-no', { type: 'button' }, 'Cancel');
    dialog.replaceChildren(h('h2#dialog-title', {}, 'Please confirm'), h('p', {}, question), h('div.actions', {}, yes, no));
    const finish = (answer) => {
      dialog.close();
      resolve(answer);
    };
    yes.addEventListener('click', () => finish(true));
    no.addEventListener('click', () => finish(false));
    dialog.addEventListener('cancel', () => resolve(false), { once: true });
    dialog.showModal();
    no.focus();
  });
}

/// Shows a new signing secret once, with a copy button; resolves when the dialog is closed.
function showSecret(title, secret, note) {
  return new Promise((resolve) => {
    const value = h('input#secret-value', { type: 'text', readonly: true, value: secret, 'aria-label': 'Signing secret', spellcheck: 'false' });
    const copied = h('span.muted#secret-copied', { 'aria-live': 'polite' });
    const copy = h('button#secret-copy', { type: 'button' }, 'Copy');
    const done = h('button.primary#secret-done', { type: 'button' }, 'I have stored it');
    copy.addEventListener('click', async () => {
      value.select();
      try {
        await navigator.clipboard.writeText(secret);
        copied.textContent = 'Copied.';
      } catch {
        copied.textContent = 'Selected: press Ctrl+C (⌘C) to copy.';
      }
    });
    dialog.replaceChildren(
      h('h2#dialog-title', {}, title),
      h('p', {}, 'This signing secret is shown only now. Store it where your receiver verifies callbacks.'),
      note ? h('p.muted', {}, note) : null,
      h('div.secret', {}, value, copy),
      copied,
      h('div.actions', {}, done),
    );
    // Escape does not close it: the secret is never shown again, so only the button does.
    const keep = (event) => event.preventDefault();
    const finish = () => {
      dialog.removeEventListener('cancel', keep);
      dialog.close();
      resolve();
    };
    done.addEventListener('click', finish);
    dialog.addEventListener('cancel', keep);
    dialog.showModal();
    value.select();
  });
}

/// Navigates (or renders again); `options.notice` is shown once the new view is there.
function go(hash, options = {}) {
  if (location.hash !== hash) {
    pendingNotice = options.notice || null;
    location.hash = hash; // hashchange renders
  } else {
    render(options);
  }
}

function parse(hash) {
  const [path, search] = (hash.replace(/^#/, '') || '/subscriptions').split('?');
  const query = Object.fromEntries(new URLSearchParams(search || ''));
  const parts = path.split('/').filter(Boolean);
  return { parts, query };
}

function highlight(section) {
  for (const link of nav.querySelectorAll('a')) {
    if (link.dataset.section === section) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

async function render(options = {}) {
  if (!views) return;
  clearInterval(timer);
  const mine = ++generation;
  if (!options.quiet) {
    notice.hidden = true;
    problem.hidden = true;
  }
  const { parts, query } = parse(location.hash);
  const section = parts[0] || 'subscriptions';
  highlight(section);
  try {
    let content;
    if (section === 'subscriptions' && parts[1]) content = await views.subscription(decodeURIComponent(parts[1]), query);
    else if (section === 'subscriptions') content = await views.subscriptions();
    else if (section === 'deliveries') content = await views.deliveries(query);
    else if (section === 'events') content = await views.events(query);
    else if (section === 'health') content = await views.health();
    else content = h('p', {}, 'No such page. ', h('a', { href: '#/subscriptions' }, 'Go to the subscriptions.'));
    if (mine !== generation) return; // a newer navigation won
    const nodes = [content].flat();
    main.replaceChildren(...nodes);
    if (pendingNotice) {
      notify(pendingNotice);
      pendingNotice = null;
    }
    const live = main.querySelector('#deliveries');
    if (live && live.refresh) {
      // One refresh at a time: a slow answer is never overtaken by the next one.
      let busy = false;
      timer = setInterval(() => {
        if (busy || document.hidden || mine !== generation) return;
        busy = true;
        live.refresh().catch(fail).finally(() => {
          busy = false;
        });
      }, refreshEvery);
    } else if (section === 'health') {
      timer = setInterval(() => {
        if (!document.hidden && mine === generation) render({ quiet: true });
      }, refreshEvery * 2.5);
    }
    const heading = main.querySelector('h2');
    if (heading && !options.quiet) {
      heading.tabIndex = -1;
      heading.focus({ preventScroll: true });
    }
  } catch (error) {
    if (mine !== generation) return;
    main.replaceChildren(h('p.empty', {}, 'This page could not be loaded.'));
    fail(error);
  }
}

function enter(key) {
  views = new Views({ api: new Api(key), go, notify, fail, confirm, showSecret });
  signIn.hidden = true;
  nav.hidden = false;
  signOut.hidden = false;
  main.hidden = false;
  render();
}

function leave(message) {
  sessionStorage.removeItem(keyName);
  // The next key starts at its own subscriptions, not at the page the last one had open.
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
  views = null;
  clearInterval(timer);
  generation++;
  main.replaceChildren();
  main.hidden = true;
  nav.hidden = true;
  signOut.hidden = true;
  signIn.hidden = false;
  const input = document.getElementById('api-key');
  input.value = '';
  input.focus();
  if (message) {
    notice.hidden = true;
    problem.replaceChildren(message);
    problem.hidden = false;
  }
}

document.getElementById('sign-in-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const key = document.getElementById('api-key').value.trim();
  if (!key) return fail(new ApiError(0, 'input', 'Type an API key (one of BRIDGE_API_KEYS).'));
  try {
    await new Api(key).get('/v1/subscriptions', { limit: 1 });
  } catch (error) {
    if (error.status === 401) {
      problem.replaceChildren('That key was not accepted (HTTP 401). Use one of the keys in BRIDGE_API_KEYS.');
      problem.hidden = false;
      return;
    }
    return fail(error);
  }
  sessionStorage.setItem(keyName, key);
  document.getElementById('api-key').value = ''; // kept in sessionStorage only, not in the page
  problem.hidden = true;
  enter(key);
});

signOut.addEventListener('click', () => leave());
window.addEventListener('hashchange', () => render());
window.addEventListener('error', (event) => fail(event.error || new Error(event.message)));
window.addEventListener('unhandledrejection', (event) => fail(event.reason || new Error('unhandled rejection')));

const stored = sessionStorage.getItem(keyName);
if (stored) enter(stored);
else leave();
