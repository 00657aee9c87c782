// Compile-only checks of the players' adapters' types with the real libraries'
// types: a Shaka Player, a dash.js MediaPlayer and an Hls instance fit them.
import Hls from 'hls.js';
import { MediaPlayer } from 'dashjs';
import shaka from 'shaka-player';
import { createResilience } from 'player-resilience';
import { attachShaka, type PlayerAttachment } from 'player-resilience/shaka';
import { attachDashjs } from 'player-resilience/dashjs';
import { attachHls } from 'player-resilience/hlsjs';

const r = createResilience({ enabled: true });
const video = document.createElement('video');

const shakaInstance = new shaka.Player();
const attached: PlayerAttachment = attachShaka(r, shakaInstance, { shaka });
attachShaka(r, shakaInstance).dispose();
void shakaInstance.attach(video).then(() => shakaInstance.load('/api/v1/proxy/plex/video/:/transcode/universal/start.mpd'));

const dash = MediaPlayer().create();
const dashAttached = attachDashjs(r, dash);
dash.initialize(video, '/api/v1/proxy/plex/video/:/transcode/universal/start.mpd', false);

const hls = new Hls();
const hlsAttached = attachHls(r, hls);
hls.attachMedia(video);
hls.loadSource('/api/v1/proxy/plex/video/:/transcode/universal/start.m3u8');

for (const handle of [attached, dashAttached, hlsAttached]) handle.dispose();

// @ts-expect-error the module instance comes first
attachHls(hls, r);
// @ts-expect-error a video element is not a player
attachShaka(r, video);
// @ts-expect-error nor a dash.js player (it has no extend)
attachDashjs(r, hls);

// attachVideo with each library's adapter, a fresh source per load, and the page's own adapter.
import { shakaPlayer } from 'player-resilience/shaka';
import { dashjsPlayer, dashVideoPlayer } from 'player-resilience/dashjs';
import { hlsPlayer } from 'player-resilience/hlsjs';
import type { PlayerAdapter, SourceReason } from 'player-resilience';
import DashVideoElement from 'dash-video-element';

const common = { thumbnailAt: (id: string, s: number) => `/t/${id}/${s}`, sessionClock: () => 0 };
const fresh = (reason: SourceReason) => `/api/v1/proxy/plex/video/:/transcode/universal/start.mpd?why=${reason}`;
const shakaHandle = r.attachVideo(video, { ...common, player: shakaPlayer(new shaka.Player(), { shaka }), media: { id: '1', src: fresh } });
shakaHandle.load({ id: '2', src: async () => fresh('load') });
r.attachVideo(video, { ...common, player: dashjsPlayer(MediaPlayer().create()), media: { id: '1', src: fresh } });
r.attachVideo(video, { ...common, player: hlsPlayer(new Hls()), media: { id: '1', src: '/a.m3u8' } });
const element = new DashVideoElement();
r.attachVideo(element.shadowRoot!.querySelector('video')!, { ...common, player: dashVideoPlayer(element, { settings: {} }) });
const own: PlayerAdapter = {
  load: async (url: string, startSeconds: number) => void [url, startSeconds],
  unload() {},
  onError: (listener) => {
    listener({ fatal: true, status: 404 });
    return () => {};
  },
};
r.attachVideo(video, { ...common, player: own });
// @ts-expect-error an adapter needs onError
r.attachVideo(video, { ...common, player: { load: async () => {}, unload() {} } });
// @ts-expect-error src gives a URL
r.attachVideo(video, { ...common, media: { id: '1', src: () => 42 } });
