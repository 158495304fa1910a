/**
 * The conversation, kept in the browser (IndexedDB: attachments stay Blobs, no size games with
 * localStorage). One current conversation; "New chat" deletes it.
 */

import type { ChatMessageRecord } from "./chat-types.ts";

const DB_NAME = "minicpmv-edge-chat";
const STORE = "conversations";
const CURRENT = "current";

function openDb(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function withStore<T>(mode: IDBTransactionMode, run: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await openDb();
  try {
    // settled when the transaction commits, so a reload right after a save sees it
    return await new Promise<T>((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = run(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error ?? req.error);
      tx.onabort = () => reject(tx.error ?? new Error("IndexedDB transaction aborted"));
    });
  } finally {
    db.close();
  }
}

export async function loadConversation(): Promise<ChatMessageRecord[]> {
  return (await withStore<ChatMessageRecord[] | undefined>("readonly", (s) => s.get(CURRENT))) ?? [];
}

export async function saveConversation(messages: ChatMessageRecord[]): Promise<void> {
  await withStore("readwrite", (s) => s.put(messages, CURRENT));
}

export async function clearConversation(): Promise<void> {
  await withStore("readwrite", (s) => s.delete(CURRENT));
}
