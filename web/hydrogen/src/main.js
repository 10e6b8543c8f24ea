// Yakuba's web client: Hydrogen (hydrogen-view-sdk, prebuilt) mounted as the whole app, the way
// Hydrogen's own main.js does it. The homeserver comes from config.json, which the server that
// serves these files writes (appservice/app/devstack/webclient.py) — or `?hs=` in the page URL.
import {
    FeatureSet, Platform, RootViewModel, createNavigation, createRouter,
} from "hydrogen-view-sdk";

const assetPaths = {
    downloadSandbox: "download-sandbox.html",
    serviceWorker: "sw.js",  // mandatory in 0.3.1: login fails without it
    worker: "assets/main.js",
    olm: {
        wasm: "olm/olm.wasm",
        legacyBundle: "olm/olm_legacy.js",
        wasmBundle: "olm/olm.js",
    },
};

async function loadConfig() {
    const response = await fetch("config.json", {cache: "no-store"});
    const config = response.ok ? await response.json() : {};
    const hs = new URLSearchParams(window.location.search).get("hs");
    if (hs) {
        config.defaultHomeServer = hs;
    }
    if (!config.defaultHomeServer) {
        config.defaultHomeServer = window.location.origin;
    }
    return config;
}

async function main() {
    const config = await loadConfig();
    const platform = new Platform({container: document.body, assetPaths, config});
    await platform.init();
    const navigation = createNavigation();
    platform.setNavigation(navigation);
    const urlRouter = createRouter({navigation, history: platform.history});
    urlRouter.attach();
    const features = await FeatureSet.load(platform.settingsStorage);
    const vm = new RootViewModel({platform, urlRouter, navigation, features});
    await vm.load();
    platform.createAndMountRootView(vm);
    document.body.dataset.yakubaClient = "ready";
}

main().catch((err) => {
    console.error(`${err.message}:\n${err.stack}`);
    document.body.dataset.yakubaClient = "error";
});
