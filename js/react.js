// React hooks for `player-resilience` (React 18 or 19, an optional peer dependency).
//
// Both hooks are safe under StrictMode (effects run create → dispose → create:
// the first instance is disposed before it starts) and hold still across
// re-renders: the instance follows the config's content, not its identity, and
// a watched video follows its element and its media's `id`, so inline objects,
// new callbacks or a cache-busting `src` start nothing new.
import { useEffect, useRef, useState } from 'react';
import { createResilience } from './index.js';

/**
 * The player's instance for `config`, or null until mounted. A new instance is
 * made only when the config's content changes; it is disposed on unmount.
 */
export function useResilience(config) {
  const key = JSON.stringify(config === undefined ? null : config);
  const [instance, setInstance] = useState(null);
  useEffect(() => {
    const r = createResilience(config);
    setInstance(r);
    return () => {
      r.dispose();
      setInstance((current) => (current === r ? null : current));
    };
    // The config is read through its key: same content, same instance.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  return instance;
}

/**
 * Watches the `<video>` in `videoRef` with `r.attachVideo(video, options)`, and
 * returns its handle (null until attached). It attaches again only when `r` or
 * the element changes, switches media with `handle.load` when `options.media.id`
 * changes, and disposes on unmount. The latest `thumbnailAt` and `sessionClock`
 * are always the ones called.
 */
export function useAttachVideo(r, videoRef, options) {
  const latest = useRef(options);
  const [element, setElement] = useState(null);
  const [handle, setHandle] = useState(null);
  const loadedId = useRef(null);
  const mediaId = options && options.media ? options.media.id : null;

  useEffect(() => {
    latest.current = options;
    const current = videoRef.current || null;
    if (current !== element) setElement(current);
  });

  useEffect(() => {
    if (!r || !element) return undefined;
    const given = latest.current || {};
    const calls = (name) =>
      typeof given[name] === 'function' ? (...args) => latest.current[name](...args) : given[name];
    const h = r.attachVideo(element, { ...given, thumbnailAt: calls('thumbnailAt'), sessionClock: calls('sessionClock') });
    loadedId.current = given.media ? given.media.id : null;
    setHandle(h);
    return () => {
      h.dispose();
      setHandle((current) => (current === h ? null : current));
    };
  }, [r, element]);

  useEffect(() => {
    if (!handle || mediaId === null || mediaId === loadedId.current) return;
    loadedId.current = mediaId;
    handle.load(latest.current.media);
  }, [handle, mediaId]);

  return handle;
}
