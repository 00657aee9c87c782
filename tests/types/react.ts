// Compile-only checks of the React hooks' types, as a component uses them.
import { useEffect, useRef } from 'react';
import { useAttachVideo, useResilience } from 'player-resilience/react';
import type { Resilience, VideoHandle } from 'player-resilience';

export function usePlayer(mediaId: string): VideoHandle | null {
  const r: Resilience | null = useResilience({ enabled: true, timeouts: { videoMs: 30_000 } });
  const video = useRef<HTMLVideoElement>(null);
  useEffect(() => {
    void r?.fetch(`/api/v1/play/${mediaId}`);
  }, [r, mediaId]);
  return useAttachVideo(r, video, {
    media: { id: mediaId, src: `/api/v1/proxy/plex/stream/${mediaId}` },
    thumbnailAt: (id, seconds) => `/thumb/${id}/${seconds}`,
    sessionClock: () => 0,
  });
}

export function useMistakes(): void {
  // @ts-expect-error: the config is checked like createResilience's
  useResilience({ retry: { maxAttempts: 'three' } });
  const r = useResilience(null);
  // @ts-expect-error: the options need sessionClock
  useAttachVideo(r, useRef<HTMLVideoElement>(null), { thumbnailAt: () => '' });
  // @ts-expect-error: a ref to a video element, not a div
  useAttachVideo(r, useRef<HTMLDivElement>(null), { thumbnailAt: () => '', sessionClock: () => 0 });
}
