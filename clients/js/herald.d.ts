// Types of herald.js, Herald's client module.

export type Status = 'connecting' | 'live' | 'reconnecting' | 'unauthorized' | 'closed';

export interface ConnectOptions {
  /** The server, e.g. `https://herald.example`. Default: the page's origin (required in Node). */
  url?: string;
  /** Gives a token; called before each (re)connect and after a `401` or `auth_expired`. Without it, same-origin pages use the session cookie. */
  token?: () => string | Promise<string>;
  /** One stream per origin for all tabs (default `true` where Web Locks and BroadcastChannel exist). */
  shareAcrossTabs?: boolean;
}

/** A user as the API returns it. */
export interface User {
  id: string;
  user_name: string;
  email: string;
  display_name: string | null;
  version: number;
  created_at: string;
  updated_at: string;
}

export interface Change {
  type: 'created' | 'updated' | 'deleted';
  /** The user's id. */
  id: string;
  /** The user after the change; `null` when deleted. */
  user: User | null;
  /** The event's id: increasing, one per committed write. */
  eventId: number;
}

/** An event as the stream sends it. */
export interface Envelope<T = unknown> {
  id: number;
  event: string;
  topic: string;
  at: string;
  data: T;
}

/** What an `event: reset` says: the events after the resume point are gone; go on after `last_id`. */
export interface Reset {
  reason: string;
  last_id: number;
}

/** A failed attempt: a response's status and error, or a network error. */
export interface HeraldError {
  status?: number;
  code?: string;
  message?: string;
  error?: unknown;
}

export interface Users {
  /** Resolves when the snapshot is loaded and the stream is live from its `last_event_id`; rejects on `unauthorized` or `closed`. */
  readonly ready: Promise<void>;
  /** Every user the token may read, in id (creation) order. */
  all(): User[];
  get(id: string): User | undefined;
  /** The newest event id the collection reflects. */
  readonly lastEventId: number | undefined;
  on(type: 'change', fn: (change: Change) => void): () => void;
  /** After the snapshot that an `event: reset` made necessary has been fetched again. */
  on(type: 'reset', fn: () => void): () => void;
}

/** A row of a live table, as its events' `row` has it: its visible columns. */
export type Row = Record<string, unknown>;

export interface RowChange {
  type: 'created' | 'updated' | 'deleted';
  /** The row's primary key, as a string. */
  key: string;
  /** The row after the change; `null` when deleted (or moved to another scope). */
  row: Row | null;
  /** The event's id: increasing, one per committed change. */
  eventId: number;
}

export interface TableOptions {
  /** Only the rows of this scope (the value of the column the table is watched `--scope` with; `null` for none). */
  scope?: string | number | null;
}

/** A live table (see `herald watch`): its snapshot, then every change, once and in order. */
export interface Table {
  /** Resolves when the snapshot is loaded and the stream is live from its `last_event_id`; rejects on `unauthorized` or `closed`. */
  readonly ready: Promise<void>;
  /** Every row the token may read (of the scope, if one is given), in key order. */
  all(): Row[];
  get(key: string | number): Row | undefined;
  /** The newest event id the collection reflects. */
  readonly lastEventId: number | undefined;
  on(type: 'change', fn: (change: RowChange) => void): () => void;
  /** After the snapshot that an `event: reset` made necessary has been fetched again. */
  on(type: 'reset', fn: () => void): () => void;
}

export interface Subscription {
  close(): void;
}

export interface Herald {
  readonly status: Status;
  on(type: 'status', fn: (status: Status) => void): () => void;
  on(type: 'error', fn: (error: HeraldError) => void): () => void;
  /** The live users collection (one per connection). */
  users(): Users;
  /** A live table's collection (one per table and scope per connection). */
  table(name: string, options?: TableOptions): Table;
  /**
   * Events of these topics (`inbox/alice`, `news/*`, `users`, `*`), with the
   * SSE event name (`message` for unnamed ones); after a reset, once with
   * its data and the name `reset`. Without `lastEventId`, from now on.
   */
  subscribe(
    topics: string | string[],
    callback: (envelope: Envelope | Reset, eventName: string) => void,
    options?: { lastEventId?: number | string },
  ): Subscription;
  close(): void;
}

export function connect(options?: ConnectOptions): Herald;

/** One topic segment of a value, as a live table's topics write it (`a/b` is `a_2Fb`, `null` is `_null`). */
export function topicSegment(value: string | number | null | undefined): string;
