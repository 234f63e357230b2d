// Herald live users page: a snapshot from the REST API, then the event stream
// from that snapshot's event id on, applied in place.
'use strict';

(() => {
  const API = '/api/v1/users';
  const STREAM = '/api/sse/stream';
  const SESSION = '/api/v1/session';
  const PAGE_LIMIT = 200;
  const LOG_LIMIT = 50;
  const FIELD_LABELS = { user_name: 'user name', email: 'email', display_name: 'display name' };

  const state = {
    /** id -> user, as last seen. */
    users: new Map(),
    /** Ids of deleted users: ids are never reused, so a late event cannot bring one back. */
    deleted: new Set(),
    /** The newest event id applied (or covered by the snapshot). */
    lastEventId: null,
    source: null,
    /** Bumped whenever a stream is opened or closed, so stale handlers do nothing. */
    streamGeneration: 0,
    /** Bumped whenever a snapshot load starts, so a superseded load is dropped. */
    loadGeneration: 0,
    reopenTimer: null,
    reopenDelay: 1000,
  };

  const $ = (id) => document.getElementById(id);
  let dom;

  // ---------------------------------------------------------------- helpers

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === 'className') node.className = value;
      else if (name === 'text') node.textContent = value;
      else node.setAttribute(name, value === true ? '' : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child);
    }
    return node;
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function formatTime(iso) {
    const date = new Date(iso);
    return Number.isNaN(date.getTime())
      ? String(iso)
      : date.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
  }

  function clockTime() {
    return new Date().toLocaleTimeString();
  }

  /** The error of a failed response as {status, code, message, details}. */
  async function readError(response) {
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    const error = body && typeof body === 'object' && body.error ? body.error : {};
    return {
      status: response.status,
      code: error.code || null,
      message: error.message || `the server answered ${response.status} ${response.statusText}`.trim(),
      details: error.details || null,
    };
  }

  async function sendJson(method, url, body, headers) {
    const response = await fetch(url, {
      method,
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...(headers || {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    await noticeSignedOut(response);
    return response;
  }

  function showFieldError(input, errorNode, message) {
    errorNode.textContent = message;
    errorNode.hidden = false;
    input.setAttribute('aria-invalid', 'true');
  }

  function clearFieldError(input, errorNode) {
    errorNode.textContent = '';
    errorNode.hidden = true;
    input.removeAttribute('aria-invalid');
  }

  function duplicateMessage(field) {
    return `Another user already has this ${FIELD_LABELS[field] || field}.`;
  }

  // ---------------------------------------------------------------- sign-in

  /** Thrown when the server wants a token: the page asks for one. */
  class SignInRequired extends Error {}

  /** Stops everything live and asks for a token, saying why. */
  function askForToken(reason) {
    state.loadGeneration += 1;
    closeStream();
    setConnection('signed out');
    dom.signInReason.textContent = reason;
    dom.signIn.hidden = false;
    dom.tokenInput.focus();
  }

  /** Asks for a token when a response says the session is missing or expired. */
  async function noticeSignedOut(response) {
    if (response.status !== 401) return false;
    const error = await readError(response.clone());
    askForToken(`Sign in again: ${error.message}.`);
    return true;
  }

  /** The response, unless it says the page must sign in first. */
  async function checkSignedIn(response) {
    if (await noticeSignedOut(response)) throw new SignInRequired('signed out');
    return response;
  }

  async function onSignIn(event) {
    event.preventDefault();
    const token = dom.tokenInput.value.trim();
    clearFieldError(dom.tokenInput, dom.tokenError);
    if (!token) {
      showFieldError(dom.tokenInput, dom.tokenError, 'Paste your access token.');
      return;
    }
    dom.signInSubmit.disabled = true;
    try {
      const response = await fetch(SESSION, { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
      if (!response.ok) {
        const error = await readError(response);
        showFieldError(dom.tokenInput, dom.tokenError, error.message);
        return;
      }
      dom.tokenInput.value = '';
      dom.signIn.hidden = true;
      log('session', 'signed in');
      loadAndFollow();
    } catch (error) {
      showFieldError(dom.tokenInput, dom.tokenError, `Could not reach the server (${error.message}).`);
    } finally {
      dom.signInSubmit.disabled = false;
    }
  }

  // ------------------------------------------------------------- indicator

  function setConnection(connection) {
    const node = dom.connectionState;
    if (node.dataset.state === connection) return;
    node.dataset.state = connection;
    node.textContent = connection;
  }

  function showLastEventId() {
    dom.lastEventId.textContent = state.lastEventId === null ? '–' : String(state.lastEventId);
  }

  function log(kind, text, eventId) {
    const entry = el('li', { className: `log-entry log-${kind}`, 'data-kind': kind, 'data-event-id': eventId ?? null },
      el('time', { className: 'log-time', datetime: new Date().toISOString(), text: clockTime() }), ' ',
      eventId !== undefined ? el('span', { className: 'log-id mono', text: `#${eventId}` }) : null,
      eventId !== undefined ? ' ' : null,
      el('span', { className: 'log-kind', text: kind }), ' ',
      el('span', { className: 'log-text', text }));
    dom.eventLog.prepend(entry);
    while (dom.eventLog.children.length > LOG_LIMIT) dom.eventLog.lastElementChild.remove();
  }

  // ------------------------------------------------------------------ table

  function rowOf(id) {
    return dom.tbody.querySelector(`tr[data-user-id="${CSS.escape(id)}"]`);
  }

  function updateCount() {
    dom.userCount.textContent = String(state.users.size);
    dom.userNoun.textContent = state.users.size === 1 ? 'user' : 'users';
    dom.emptyRow.hidden = state.users.size > 0;
    if (state.users.size === 0) dom.emptyRow.firstElementChild.textContent = 'No users yet.';
  }

  function cell(field, label, content) {
    return el('td', { 'data-field': field, 'data-label': label }, content);
  }

  function displayNameContent(user) {
    return user.display_name === null || user.display_name === undefined
      ? el('span', { className: 'none', text: '—' }, el('span', { className: 'visually-hidden', text: 'none' }))
      : user.display_name;
  }

  function buildRow(user) {
    const row = el('tr', { 'data-user-id': user.id, 'data-version': user.version });
    row.append(
      el('th', { scope: 'row', 'data-field': 'user_name', 'data-label': 'User name', text: user.user_name }),
      cell('display_name', 'Display name', displayNameContent(user)),
      cell('email', 'Email', user.email),
      cell('version', 'Version', String(user.version)),
      cell('updated_at', 'Updated', el('time', { datetime: user.updated_at, text: formatTime(user.updated_at) })),
      el('td', { className: 'row-actions', 'data-label': 'Actions' }, actionButtons(user)),
    );
    return row;
  }

  function actionButtons(user) {
    return el('div', { className: 'button-row' },
      el('button', { type: 'button', className: 'secondary', 'data-action': 'edit', 'aria-label': `Edit ${user.user_name}`, text: 'Edit' }),
      el('button', { type: 'button', className: 'danger', 'data-action': 'delete', 'aria-label': `Delete ${user.user_name}`, text: 'Delete' }));
  }

  /** Refreshes the cells of a row in place; a row being edited keeps its inputs. */
  function refreshRow(row, user) {
    row.dataset.version = String(user.version);
    const set = (field, content) => {
      const target = row.querySelector(`[data-field="${field}"]`);
      target.replaceChildren(content);
    };
    set('user_name', user.user_name);
    set('version', String(user.version));
    set('updated_at', el('time', { datetime: user.updated_at, text: formatTime(user.updated_at) }));
    if (row.dataset.editing === 'true') {
      row.querySelector('[data-role="edit-note"]').textContent =
        `Changed elsewhere meanwhile (now version ${user.version}).`;
    } else {
      set('display_name', displayNameContent(user));
      set('email', user.email);
      const edit = row.querySelector('[data-action="edit"]');
      const del = row.querySelector('[data-action="delete"]');
      if (edit) edit.setAttribute('aria-label', `Edit ${user.user_name}`);
      if (del) del.setAttribute('aria-label', `Delete ${user.user_name}`);
    }
    flash(row);
  }

  function flash(row) {
    row.classList.remove('flash');
    void row.offsetWidth; // restart the animation
    row.classList.add('flash');
  }

  function onAnimationEnd(event) {
    if (event.animationName === 'flash') event.target.classList.remove('flash');
  }

  function insertRow(row, id) {
    // Ids are UUIDv7: their text order is creation order, the list's order.
    let before = null;
    for (const other of dom.tbody.querySelectorAll('tr[data-user-id]')) {
      if (other.dataset.userId > id) {
        before = other;
        break;
      }
    }
    dom.tbody.insertBefore(row, before);
  }

  /** Takes in a user unless it was deleted or a newer version is already shown. */
  function upsertUser(user) {
    if (!user || typeof user.id !== 'string' || state.deleted.has(user.id)) return false;
    const current = state.users.get(user.id);
    if (current && current.version > user.version) return false;
    state.users.set(user.id, user);
    const row = rowOf(user.id);
    if (row) {
      if (current && current.version === user.version && current.updated_at === user.updated_at) return true;
      refreshRow(row, user);
    } else {
      const fresh = buildRow(user);
      insertRow(fresh, user.id);
      flash(fresh);
    }
    updateCount();
    return true;
  }

  function removeUser(id) {
    state.deleted.add(id);
    state.users.delete(id);
    const row = rowOf(id);
    if (row) {
      const hadFocus = row.contains(document.activeElement);
      const next = row.nextElementSibling || row.previousElementSibling;
      row.remove();
      if (hadFocus) focusAfterRemoval(next);
    }
    updateCount();
  }

  function focusAfterRemoval(neighbour) {
    const target = neighbour && neighbour.dataset.userId ? neighbour.querySelector('button') : null;
    (target || dom.usersHeading).focus();
  }

  function renderAll(users) {
    for (const row of dom.tbody.querySelectorAll('tr[data-user-id]')) row.remove();
    const sorted = [...users].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const fragment = document.createDocumentFragment();
    for (const user of sorted) fragment.append(buildRow(user));
    dom.tbody.append(fragment);
    updateCount();
  }

  // ------------------------------------------------------------ the stream

  function applyEvent(event) {
    if (!event || !Number.isSafeInteger(event.id)) return;
    // Replays overlap the snapshot: anything at or before what we hold is done.
    if (state.lastEventId !== null && event.id <= state.lastEventId) return;
    state.lastEventId = event.id;
    showLastEventId();
    const data = event.data || {};
    const userId = data.user_id || (data.user && data.user.id);
    const known = state.users.get(userId);
    switch (event.event) {
      case 'user_created':
      case 'user_updated': {
        upsertUser(data.user);
        const name = (data.user && data.user.user_name) || (known && known.user_name) || userId;
        const fields = event.event === 'user_updated' && data.updated_fields
          ? Object.keys(data.updated_fields).join(', ')
          : '';
        log(event.event, fields ? `${name} (${fields})` : String(name), event.id);
        break;
      }
      case 'user_deleted':
        removeUser(userId);
        log(event.event, String((known && known.user_name) || userId), event.id);
        break;
      default:
        log(String(event.event || 'event'), event.topic || '', event.id);
    }
  }

  function closeStream() {
    state.streamGeneration += 1;
    clearTimeout(state.reopenTimer);
    state.reopenTimer = null;
    if (state.source) {
      state.source.close();
      state.source = null;
    }
  }

  function openStream(afterId) {
    closeStream();
    const generation = state.streamGeneration;
    const source = new EventSource(`${STREAM}?last_event_id=${encodeURIComponent(afterId)}`);
    state.source = source;
    const current = () => generation === state.streamGeneration;

    source.onopen = () => {
      if (!current()) return;
      state.reopenDelay = 1000;
      if (dom.connectionState.dataset.state !== 'live') log('stream', 'live');
      setConnection('live');
    };
    source.onerror = () => {
      if (!current()) return;
      if (dom.connectionState.dataset.state === 'live') log('stream', 'connection lost; reconnecting');
      setConnection(dom.connectionState.dataset.state === 'connecting' ? 'connecting' : 'reconnecting');
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (an error status, say). If the session is
        // gone, ask for a token; otherwise reopen from where we are.
        setConnection('reconnecting');
        const delay = state.reopenDelay;
        state.reopenDelay = Math.min(state.reopenDelay * 2, 30000);
        state.reopenTimer = setTimeout(async () => {
          if (!current()) return;
          try {
            await checkSignedIn(await fetch(`${API}?limit=1`, { cache: 'no-store' }));
          } catch (error) {
            if (error instanceof SignInRequired) return;
          }
          if (current()) openStream(state.lastEventId ?? 0);
        }, delay);
      }
    };
    source.onmessage = (message) => {
      if (!current()) return;
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        log('error', 'unreadable event');
        return;
      }
      if (!Number.isSafeInteger(event.id)) event.id = Number.parseInt(message.lastEventId, 10);
      applyEvent(event);
    };
    source.addEventListener('reset', (message) => {
      if (!current()) return;
      let reason = 'unknown';
      try {
        reason = JSON.parse(message.data).reason || reason;
      } catch {
        // the reason is only for the log
      }
      log('reset', `${reason}: reloading the list`);
      loadAndFollow();
    });
    source.addEventListener('auth_expired', () => {
      if (!current()) return;
      log('session', 'expired');
      askForToken('Your session has expired: sign in again to keep following.');
    });
  }

  // -------------------------------------------------------------- snapshot

  async function fetchSnapshot() {
    const items = [];
    let snapshotId = null;
    let cursor = null;
    do {
      const query = new URLSearchParams({ limit: String(PAGE_LIMIT) });
      if (cursor) query.set('cursor', cursor);
      const response = await checkSignedIn(
        await fetch(`${API}?${query}`, { headers: { Accept: 'application/json' }, cache: 'no-store' }));
      if (!response.ok) throw new Error((await readError(response)).message);
      const page = await response.json();
      if (snapshotId === null) {
        // The first page's event id: events after it are replayed by the
        // stream, so later pages being newer only means some replays repeat.
        const header = response.headers.get('Herald-Last-Event-Id');
        snapshotId = Number.isSafeInteger(page.last_event_id) ? page.last_event_id : Number.parseInt(header, 10) || 0;
      }
      items.push(...(page.items || []));
      cursor = page.next_cursor || null;
    } while (cursor);
    return { items, snapshotId };
  }

  /** Loads the list and follows the stream from the list's event id on. */
  async function loadAndFollow() {
    const generation = ++state.loadGeneration;
    closeStream();
    setConnection(state.lastEventId === null ? 'connecting' : 'reconnecting');
    let delay = 1000;
    let snapshot;
    for (;;) {
      try {
        snapshot = await fetchSnapshot();
        break;
      } catch (error) {
        if (error instanceof SignInRequired || generation !== state.loadGeneration) return;
        dom.tableStatus.textContent = `Could not load users (${error.message}); retrying in ${Math.round(delay / 1000)} s.`;
        await sleep(delay);
        delay = Math.min(delay * 2, 30000);
        if (generation !== state.loadGeneration) return;
      }
    }
    if (generation !== state.loadGeneration) return;
    dom.tableStatus.textContent = '';
    state.users = new Map(snapshot.items.map((user) => [user.id, user]));
    state.deleted = new Set();
    state.lastEventId = snapshot.snapshotId;
    showLastEventId();
    renderAll(snapshot.items);
    log('snapshot', `${snapshot.items.length} user(s) as of event ${snapshot.snapshotId}`);
    openStream(snapshot.snapshotId);
  }

  // ---------------------------------------------------------- create form

  function formField(name) {
    return { input: $(`new-${name}`), error: $(`new-${name}-error`) };
  }

  function clearFormErrors() {
    for (const name of Object.keys(FIELD_LABELS)) {
      const { input, error } = formField(name);
      clearFieldError(input, error);
    }
    dom.formStatus.textContent = '';
    dom.formStatus.classList.remove('error');
  }

  let creating = false;

  async function onCreate(event) {
    event.preventDefault();
    if (creating) return;
    clearFormErrors();
    const body = {
      user_name: formField('user_name').input.value.trim(),
      email: formField('email').input.value.trim(),
    };
    const displayName = formField('display_name').input.value;
    if (displayName.trim() !== '') body.display_name = displayName;

    creating = true;
    dom.createSubmit.setAttribute('aria-disabled', 'true');
    dom.formStatus.textContent = 'Adding…';
    try {
      const response = await sendJson('POST', API, body);
      if (response.status === 201) {
        const user = await response.json();
        upsertUser(user);
        dom.createForm.reset();
        dom.formStatus.textContent = `Added ${user.user_name}.`;
        formField('user_name').input.focus();
        return;
      }
      const error = await readError(response);
      let firstInvalid = null;
      const markField = (name, message) => {
        const field = FIELD_LABELS[name] ? formField(name) : null;
        if (!field) return false;
        showFieldError(field.input, field.error, message);
        firstInvalid = firstInvalid || field.input;
        return true;
      };
      const leftover = [];
      if (response.status === 422 && error.details && error.details.fields) {
        // In the form's order, so the first field marked is the first one focused.
        const order = Object.keys(FIELD_LABELS);
        const entries = Object.entries(error.details.fields)
          .sort(([a], [b]) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99));
        for (const [name, message] of entries) {
          if (!markField(name, message)) leftover.push(`${name}: ${message}`);
        }
      } else if (response.status === 409 && error.details && error.details.field) {
        if (!markField(error.details.field, duplicateMessage(error.details.field))) leftover.push(error.message);
      } else {
        leftover.push(error.message);
      }
      dom.formStatus.classList.add('error');
      dom.formStatus.textContent = leftover.length
        ? `Could not add the user: ${leftover.join('; ')}`
        : 'Could not add the user: please correct the marked fields.';
      if (firstInvalid) firstInvalid.focus();
    } catch (error) {
      dom.formStatus.classList.add('error');
      dom.formStatus.textContent = `Could not add the user: ${error.message}`;
    } finally {
      creating = false;
      dom.createSubmit.removeAttribute('aria-disabled');
    }
  }

  // ------------------------------------------------------- edit and delete

  function startEdit(row) {
    const id = row.dataset.userId;
    const user = state.users.get(id);
    if (!user || row.dataset.editing === 'true') return;
    row.dataset.editing = 'true';
    row.dataset.baseVersion = String(user.version);
    const formId = `edit-${id}`;
    const editor = (field, label, type, value, extra) => {
      const inputId = `edit-${field}-${id}`;
      const errorId = `${inputId}-error`;
      const input = el('input', { id: inputId, name: field, type, form: formId, value: value ?? '', 'aria-describedby': errorId, ...extra });
      input.value = value ?? '';
      return el('div', { className: 'inline-field' },
        el('label', { for: inputId, className: 'visually-hidden', text: `${label} of ${user.user_name}` }),
        input,
        el('p', { id: errorId, className: 'field-error', 'data-error-for': field, hidden: true }));
    };
    row.querySelector('[data-field="display_name"]').replaceChildren(
      editor('display_name', 'Display name', 'text', user.display_name, { maxlength: 100, placeholder: 'none' }));
    row.querySelector('[data-field="email"]').replaceChildren(
      editor('email', 'Email', 'email', user.email, { required: true, autocomplete: 'off' }));
    const form = el('form', { id: formId, className: 'edit-form', novalidate: true },
      el('div', { className: 'button-row' },
        el('button', { type: 'submit', 'data-action': 'save', text: 'Save' }),
        el('button', { type: 'button', className: 'secondary', 'data-action': 'cancel', text: 'Cancel' })),
      el('p', { className: 'edit-note', 'data-role': 'edit-note', role: 'status' }));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      saveEdit(row);
    });
    row.querySelector('.row-actions').replaceChildren(form);
    row.addEventListener('keydown', onEditKeydown);
    row.querySelector('[data-field="display_name"] input').focus();
  }

  function onEditKeydown(event) {
    if (event.key === 'Escape') {
      event.preventDefault();
      endEdit(event.currentTarget, 'edit');
    }
  }

  function endEdit(row, focusAction) {
    row.removeEventListener('keydown', onEditKeydown);
    delete row.dataset.editing;
    delete row.dataset.baseVersion;
    const user = state.users.get(row.dataset.userId);
    if (!user) return;
    row.querySelector('[data-field="display_name"]').replaceChildren(displayNameContent(user));
    row.querySelector('[data-field="email"]').replaceChildren(user.email);
    row.querySelector('.row-actions').replaceChildren(actionButtons(user));
    if (focusAction) row.querySelector(`[data-action="${focusAction}"]`).focus();
  }

  async function saveEdit(row) {
    if (row.dataset.saving === 'true') return;
    const id = row.dataset.userId;
    const user = state.users.get(id);
    if (!user) return;
    const inputs = {
      email: row.querySelector('[data-field="email"] input'),
      display_name: row.querySelector('[data-field="display_name"] input'),
    };
    const errors = {
      email: row.querySelector('[data-error-for="email"]'),
      display_name: row.querySelector('[data-error-for="display_name"]'),
    };
    const note = row.querySelector('[data-role="edit-note"]');
    for (const name of Object.keys(inputs)) clearFieldError(inputs[name], errors[name]);
    note.textContent = '';

    const patch = {};
    const email = inputs.email.value.trim();
    if (email !== user.email) patch.email = email;
    const displayName = inputs.display_name.value.trim() === '' ? null : inputs.display_name.value;
    if (displayName !== (user.display_name ?? null)) patch.display_name = displayName;
    if (Object.keys(patch).length === 0) {
      endEdit(row, 'edit');
      return;
    }

    row.dataset.saving = 'true';
    try {
      const response = await sendJson('PATCH', `${API}/${encodeURIComponent(id)}`, patch, {
        'If-Match': `"${row.dataset.baseVersion}"`,
      });
      if (!row.isConnected) return;
      if (response.ok) {
        const saved = await response.json();
        upsertUser(saved);
        endEdit(row, 'edit');
        dom.tableStatus.textContent = `Saved ${saved.user_name}.`;
        return;
      }
      const error = await readError(response);
      let firstInvalid = null;
      const leftover = [];
      const mark = (name, message) => {
        if (!inputs[name]) return false;
        showFieldError(inputs[name], errors[name], message);
        firstInvalid = firstInvalid || inputs[name];
        return true;
      };
      if (response.status === 422 && error.details && error.details.fields) {
        for (const name of ['display_name', 'email']) {
          if (error.details.fields[name]) mark(name, error.details.fields[name]);
        }
        for (const [name, message] of Object.entries(error.details.fields)) {
          if (!inputs[name]) leftover.push(`${name}: ${message}`);
        }
      } else if (response.status === 409 && error.details && error.details.field) {
        if (!mark(error.details.field, duplicateMessage(error.details.field))) leftover.push(error.message);
      } else if (response.status === 412) {
        const current = error.details && error.details.current_version;
        if (Number.isSafeInteger(current)) row.dataset.baseVersion = String(current);
        leftover.push('someone else changed this user meanwhile; check the values and save again to overwrite');
      } else if (response.status === 404) {
        removeUser(id);
        dom.tableStatus.textContent = `${user.user_name} was deleted meanwhile.`;
        return;
      } else {
        leftover.push(error.message);
      }
      note.textContent = leftover.length ? `Not saved: ${leftover.join('; ')}` : 'Not saved: please correct the marked fields.';
      if (firstInvalid) firstInvalid.focus();
    } catch (error) {
      note.textContent = `Not saved: ${error.message}`;
    } finally {
      delete row.dataset.saving;
    }
  }

  async function deleteUser(row) {
    const id = row.dataset.userId;
    const user = state.users.get(id);
    if (!user || row.dataset.saving === 'true') return;
    if (!window.confirm(`Delete the user ${user.user_name}?`)) return;
    row.dataset.saving = 'true';
    try {
      const response = await fetch(`${API}/${encodeURIComponent(id)}`, { method: 'DELETE' });
      await noticeSignedOut(response);
      if (response.status === 204 || response.status === 404) {
        removeUser(id);
        dom.tableStatus.textContent = `Deleted ${user.user_name}.`;
      } else {
        dom.tableStatus.textContent = `Could not delete ${user.user_name}: ${(await readError(response)).message}`;
      }
    } catch (error) {
      dom.tableStatus.textContent = `Could not delete ${user.user_name}: ${error.message}`;
    } finally {
      delete row.dataset.saving;
    }
  }

  function onTableClick(event) {
    const button = event.target.closest('button[data-action]');
    if (!button) return;
    const row = button.closest('tr[data-user-id]');
    if (!row) return;
    switch (button.dataset.action) {
      case 'edit':
        startEdit(row);
        break;
      case 'cancel':
        endEdit(row, 'edit');
        break;
      case 'delete':
        deleteUser(row);
        break;
      default:
    }
  }

  // ----------------------------------------------------------------- start

  function start() {
    dom = {
      connectionState: $('connection-state'),
      lastEventId: $('last-event-id'),
      tbody: $('users-body'),
      emptyRow: $('users-empty'),
      userCount: $('user-count'),
      userNoun: $('user-noun'),
      usersHeading: $('users-heading'),
      tableStatus: $('table-status'),
      eventLog: $('event-log'),
      createForm: $('create-form'),
      createSubmit: $('create-submit'),
      formStatus: $('form-status'),
      signIn: $('sign-in'),
      signInForm: $('sign-in-form'),
      signInReason: $('sign-in-reason'),
      signInSubmit: $('sign-in-submit'),
      tokenInput: $('access-token'),
      tokenError: $('access-token-error'),
    };
    dom.createForm.addEventListener('submit', onCreate);
    dom.signInForm.addEventListener('submit', onSignIn);
    dom.tbody.addEventListener('click', onTableClick);
    dom.tbody.addEventListener('animationend', onAnimationEnd);
    window.addEventListener('pagehide', closeStream);
    // Back from the back/forward cache: the stream was closed, start afresh.
    window.addEventListener('pageshow', (event) => {
      if (event.persisted) loadAndFollow();
    });
    loadAndFollow();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
