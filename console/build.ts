// Builds the back office into console/dist/ (git-ignored), which the gateway serves at
// /console/: one bundled, minified script from console/src (esbuild), the page and the
// stylesheet copied as they are. `npm start` runs it first; the browser test calls
// buildConsole(). Takes well under a second.
import { copyFile, mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = fileURLToPath(new URL(".", import.meta.url));
export const DIST = `${here}dist/`;

export async function buildConsole(): Promise<void> {
  await mkdir(DIST, { recursive: true });
  await build({
    entryPoints: [`${here}src/main.ts`],
    outfile: `${DIST}app.js`,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: ["es2022"],
    minify: true,
    legalComments: "none",
    logLevel: "warning",
  });
  await copyFile(`${here}index.html`, `${DIST}index.html`);
  await copyFile(`${here}styles.css`, `${DIST}styles.css`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await buildConsole();
}
