import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./app.tsx";
import { secretFromHash } from "./fragment.ts";
import "./styles.css";

// Pasting a new agent address into the same tab only changes the fragment, which does not
// load the page again: start over so the new secret is picked up.
window.addEventListener("hashchange", () => {
  if (secretFromHash(window.location.hash)) window.location.reload();
});

const root = document.getElementById("root");
if (!root) throw new Error("index.html lost its #root element");
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
