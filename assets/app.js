// Herald live users page: the users collection of herald.js (a snapshot, then
// every change from that snapshot's event id on), shown in place, with forms
// that write through the REST API.
import { connect } from '/herald.js';

const API = '/api/v1/users';
const SESSION = '/api/v1/session';
const LOG_LIMIT = 50;
const FIELD_LABELS = { user_name: 'user name', email: 'email', display_name: 'display name' };
/** How the indicator names the client's status. */
const STATUS_TEXT = { connecting: 'connecting', live: 'live', reconnecting: 'reconnecting', unauthorized: 'signed out' };

/** The connection and its users collection; both replaced after signing in again. */
let herald = null;
let users = null;
/** Whether the stream has been live since the page (last) signed in. */
let wasLive = false;

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

/** Asks for a token, saying why. */
function askForToken(reason) {
  setConnection('signed out');
  dom.signInReason.textContent = reason;
  dom.signIn.hidden = false;
  dom.tokenInput.focus();
}

/** Asks for a token when a write's response says the session is missing or expired. */
async function noticeSignedOut(response) {
  if (response.status !== 401) return false;
  const error = await readError(response.clone());
  askForToken(`Sign in again: ${error.message}.`);
  return true;
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
    follow();
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
  const id = users?.lastEventId;
  dom.lastEventId.textContent = id === undefined ? '–' : String(id);
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
  const count = dom.tbody.querySelectorAll('tr[data-user-id]').length;
  dom.userCount.textContent = String(count);
  dom.userNoun.textContent = count === 1 ? 'user' : 'users';
  dom.emptyRow.hidden = count > 0;
  if (count === 0) dom.emptyRow.firstElementChild.textContent = 'No users yet.';
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

/** Shows a user's row as it now is: refreshed in place, or new in its place. */
function showUser(user) {
  const row = rowOf(user.id);
  if (row) {
    if (row.dataset.version !== String(user.version)) refreshRow(row, user);
  } else {
    const fresh = buildRow(user);
    insertRow(fresh, user.id);
    flash(fresh);
  }
  updateCount();
}

function hideUser(id) {
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

function renderAll(list) {
  for (const row of dom.tbody.querySelectorAll('tr[data-user-id]')) row.remove();
  const fragment = document.createDocumentFragment();
  for (const user of list) fragment.append(buildRow(user));
  dom.tbody.append(fragment);
  updateCount();
}

// ------------------------------------------------------------ following

function onStatus(status) {
  if (status === 'closed') return;
  if (status === 'unauthorized') {
    askForToken(wasLive
      ? 'Your session has expired: sign in again to keep following.'
      : 'This server needs an access token.');
    return;
  }
  const before = dom.connectionState.dataset.state;
  if (status === 'live' && before !== 'live') log('stream', 'live');
  if (status === 'reconnecting' && before === 'live') log('stream', 'connection lost; reconnecting');
  if (status === 'live') {
    wasLive = true;
    // Another tab may have signed in for this one.
    dom.signIn.hidden = true;
  }
  setConnection(STATUS_TEXT[status]);
}

function onChange({ type, id, user, eventId }) {
  const known = rowOf(id)?.querySelector('[data-field="user_name"]')?.textContent;
  if (type === 'deleted') hideUser(id);
  else showUser(user);
  const name = user?.user_name || known || id;
  log(`user_${type}`, String(name), eventId);
  showLastEventId();
}

/** Connects (again) and follows the users collection. */
function follow() {
  herald?.close();
  wasLive = false;
  herald = connect();
  herald.on('status', onStatus);
  users = herald.users();
  users.on('change', onChange);
  users.on('reset', () => {
    renderAll(users.all());
    showLastEventId();
    log('reset', `the list was reloaded: ${users.all().length} user(s) as of event ${users.lastEventId}`);
  });
  const following = users;
  following.ready.then(() => {
    if (following !== users) return;
    dom.tableStatus.textContent = '';
    renderAll(users.all());
    showLastEventId();
    log('snapshot', `${users.all().length} user(s) as of event ${users.lastEventId}`);
  }, () => {
    // unauthorized (the sign-in form says so) or closed
  });
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
  const user = users.get(id);
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

/** Back to the row's cells, showing `saved` if the stream has not brought it yet. */
function endEdit(row, focusAction, saved) {
  row.removeEventListener('keydown', onEditKeydown);
  delete row.dataset.editing;
  delete row.dataset.baseVersion;
  const held = users.get(row.dataset.userId);
  const user = saved && (!held || held.version < saved.version) ? saved : held;
  if (!user) return;
  row.querySelector('[data-field="display_name"]').replaceChildren(displayNameContent(user));
  row.querySelector('[data-field="email"]').replaceChildren(user.email);
  row.querySelector('.row-actions').replaceChildren(actionButtons(user));
  if (focusAction) row.querySelector(`[data-action="${focusAction}"]`).focus();
}

async function saveEdit(row) {
  if (row.dataset.saving === 'true') return;
  const id = row.dataset.userId;
  const user = users.get(id);
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
      endEdit(row, 'edit', saved);
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
      // The stream brings the delete and takes the row away.
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
  const user = users.get(id);
  if (!user || row.dataset.saving === 'true') return;
  if (!window.confirm(`Delete the user ${user.user_name}?`)) return;
  row.dataset.saving = 'true';
  try {
    const response = await fetch(`${API}/${encodeURIComponent(id)}`, { method: 'DELETE' });
    await noticeSignedOut(response);
    if (response.status === 204 || response.status === 404) {
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
  // Leaving: another tab takes the shared stream over at once.
  window.addEventListener('pagehide', () => herald?.close());
  // Back from the back/forward cache: follow afresh.
  window.addEventListener('pageshow', (event) => {
    if (event.persisted) follow();
  });
  follow();
}

start();
