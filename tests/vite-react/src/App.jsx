// A player shaped like the reference frontend's: the resilience config in the
// player's config, the instance from a hook, metadata through r.fetch, the video
// through useAttachVideo. `?server=` is the fault server's session base URL.
import { useEffect, useRef, useState } from 'react';
import { useAttachVideo, useResilience } from 'player-resilience/react';

const base = new URLSearchParams(location.search).get('server') ?? '';

function Player({ renders }) {
  // A new object on every render, as players write it: the hook keys on content.
  const r = useResilience({
    enabled: true,
    persistence: { key: 'vite-fixture' },
    services: [
      { name: 'plex', match: ['/api/v1/proxy/plex/', '/api/v1/display/plex/'], probeUrl: `${base}/api/v1/proxy/plex/identity` },
      { name: 'api', match: ['/api/v1/'] },
    ],
  });
  const videoRef = useRef(null);
  const [metadata, setMetadata] = useState(null);

  useEffect(() => {
    if (!r) return undefined;
    const controller = new AbortController();
    r.fetch(`${base}/api/v1/play/101`, { signal: controller.signal })
      .then((response) => response.json())
      .then((json) => setMetadata(json.title ?? 'untitled'))
      .catch((error) => error.code !== 'ABORTED' && setMetadata(`error ${error.code ?? error.message}`));
    return () => controller.abort();
  }, [r]);

  // A cache-busting src that changes on every render, the shape that once opened
  // 495 transcode sessions in 4 minutes: the media id is what counts.
  const handle = useAttachVideo(r, videoRef, {
    media: { id: '101', src: `${base}/api/v1/proxy/plex/stream/101?t=${Date.now()}` },
    thumbnailAt: (id, seconds) =>
      `${base}/api/v1/proxy/plex/photo/:/transcode?width=240&height=135&url=/library/parts/${id}/indexes/sd/${seconds * 1000}`,
    sessionClock: () => performance.now() / 1000,
  });

  window.fixture = { r, handle, renders };
  return (
    <section>
      <video ref={videoRef} width="320" height="180" />
      <p id="metadata">{metadata ?? 'loading'}</p>
      <p id="attached">{handle ? `attached ${handle.mediaId}` : 'not attached'}</p>
    </section>
  );
}

export default function App() {
  const [mounted, setMounted] = useState(false);
  const [renders, setRenders] = useState(0);
  return (
    <main>
      <button id="mount" onClick={() => setMounted((m) => !m)}>
        {mounted ? 'Unmount' : 'Mount'} the player
      </button>
      <button id="rerender" onClick={() => setRenders((n) => n + 1)}>
        Re-render
      </button>
      <button id="play" onClick={() => document.querySelector('video')?.play()}>
        Play
      </button>
      {mounted && <Player renders={renders} />}
    </main>
  );
}
