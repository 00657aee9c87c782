// How long a plain `<video src>` takes to resume at a position, with no module:
// the clip plays 4 s from the fault server (default pacing), its source is taken
// away, then set again and sought to each of TARGETS (seconds into the clip) once
// its metadata is in, as the module's resume does. Prints, per target, the time
// until the video plays past it and the Range requests the server saw.
//
//   node bench/progressive-resume.mjs          (TARGETS=30,50,73,94; after npm run build)
//
// Why: Chromium reads a position through a connection it already has a few
// 32 KiB blocks behind it rather than asking for the position, and the fault
// server paces each response at the 22 kbit/s clip's own rate from where it
// started; so some positions take tens of seconds whatever the module does.
import { startDemoServer } from '../www/demo-server.mjs';
import { launchChromium } from '../tests/support.mjs';

const TARGETS = (process.env.TARGETS ?? '30,50,73,94').split(',').map(Number);
const server = await startDemoServer({ port: 0 });
const browser = await launchChromium();
try {
  console.log('| resume at (s) | until playing (ms) | Range requests (bytes sent) |\n|---:|---:|---|');
  for (const [i, target] of TARGETS.entries()) {
    const session = `resume-${process.pid}-${i}`;
    await fetch(`${server.url}__fault/reset?session=${session}`);
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${server.url}?session=${session}&config=${encodeURIComponent('{"enabled":false}')}`);
    const ms = await page.evaluate(async ([session, target]) => {
      const url = `/s/${session}/api/v1/proxy/plex/stream/101`;
      const video = document.createElement('video');
      video.muted = true; // no gesture here; sound does not change what the network does
      document.body.append(video);
      video.src = url;
      await video.play();
      const until = (done, limit = 60_000) => new Promise((resolve) => {
        const started = performance.now();
        const poll = () => (done() || performance.now() - started > limit ? resolve() : setTimeout(poll, 50));
        poll();
      });
      await until(() => video.currentTime > 4);
      video.removeAttribute('src');
      video.load();
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const started = performance.now();
      video.addEventListener('loadedmetadata', () => (video.currentTime = target), { once: true });
      video.src = url;
      video.play().catch(() => {});
      await until(() => video.currentTime > target + 0.3 && !video.seeking);
      return Math.round(performance.now() - started);
    }, [session, target]);
    const log = await (await fetch(`${server.url}__fault/log?session=${session}`)).json();
    const ranges = log.filter((e) => e.route === 'video').map((e) => `${e.range} (${e.sent ?? 'open'})`).join(', ');
    console.log(`| ${target} | ${ms} | ${ranges} |`);
    await context.close();
  }
} finally {
  await browser.close();
  await server.close();
}
