// DOM helpers. Text always goes in as text nodes (never innerHTML), so names and
// descriptions from the API cannot inject markup.
type Attrs = Record<string, string | number | boolean | EventListener | undefined>;
type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (typeof value === "function") el.addEventListener(name.replace(/^on/, ""), value);
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  for (const c of children) if (c) el.append(c);
  return el;
}

export function mount(root: HTMLElement, ...children: Child[]): void {
  root.replaceChildren(...children.filter((c): c is Node | string => !!c));
}

let toastTimer = 0;
export function toast(message: string, kind: "info" | "error" = "info"): void {
  const t = document.getElementById("toast")!;
  t.textContent = message;
  t.className = kind;
  window.clearTimeout(toastTimer);
  toastTimer = window.setTimeout(() => (t.textContent = ""), 6000);
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(2)} MB`;
}

// A read-only field with a Copy button.
export function copyField(label: string, value: string, testId: string): HTMLElement {
  const input = h("input", { readonly: true, value, "aria-label": label, "data-testid": testId });
  const button = h(
    "button",
    {
      type: "button",
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(input.value);
          toast(`${label} copied`);
        } catch {
          input.select();
          toast("Press Ctrl+C to copy");
        }
      },
    },
    "Copy",
  );
  return h("div", { class: "copy" }, h("span", { class: "label" }, label), input, button);
}
