// Builds dist/: the Hydrogen app bundle (esbuild), its assets, olm and the service worker.
// Run by `npm run build` after `npm ci` (appservice/app/devstack/webclient.py does both).
import {build} from "esbuild";
import {cpSync, mkdirSync, rmSync} from "node:fs";

const sdk = "node_modules/hydrogen-view-sdk";
const olm = "node_modules/@matrix-org/olm";
rmSync("dist", {recursive: true, force: true});
mkdirSync("dist/olm", {recursive: true});
await build({
    entryPoints: ["src/main.js"],
    bundle: true,
    format: "esm",
    minify: true,
    outfile: "dist/app.js",
    // node-only code paths in olm.js; never reached in a browser
    external: ["crypto", "path", "fs"],
    logLevel: "warning",
});
cpSync("src/index.html", "dist/index.html");
cpSync(`${sdk}/asset-build/assets`, "dist/assets", {recursive: true});
cpSync(`${sdk}/asset-build/assets/download-sandbox.html`, "dist/download-sandbox.html");
cpSync(`${sdk}/lib-build/sw.js`, "dist/sw.js");
for (const f of ["olm.js", "olm.wasm", "olm_legacy.js"]) {
    cpSync(`${olm}/${f}`, `dist/olm/${f}`);
}
console.log("built web/hydrogen/dist");
