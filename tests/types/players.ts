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

const shakaPlayer = new shaka.Player();
const attached: PlayerAttachment = attachShaka(r, shakaPlayer, { shaka });
attachShaka(r, shakaPlayer).dispose();
void shakaPlayer.attach(video).then(() => shakaPlayer.load('/api/v1/proxy/plex/video/:/transcode/universal/start.mpd'));

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
