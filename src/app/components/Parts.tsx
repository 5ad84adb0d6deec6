import { useCallback, useMemo } from 'react'
import type { ReactNode } from 'react'
import { base64ToBytes, formatBytes } from '../../core/a2a/parts.js'
import { blobType } from '../model/tasks.js'
import type { PartView } from '../model/tasks.js'

/** The parts of a message or an artifact: text, JSON data, files (images previewed), links. */
export function Parts ({ parts }: { parts: PartView[] }): ReactNode {
  return (
    <div className="parts">
      {parts.map((part, i) => <Part key={i} part={part} />)}
    </div>
  )
}

function Part ({ part }: { part: PartView }): ReactNode {
  switch (part.kind) {
    case 'text':
      return <p className="text">{part.text}</p>
    case 'data':
      return <pre className="part-data" data-testid="data-part" aria-label="JSON data"><code>{part.json}</code></pre>
    case 'file':
      return <FilePart part={part} />
    case 'link':
      return part.safe
        ? <p className="part-link"><a href={part.url} target="_blank" rel="noopener noreferrer">{part.filename ?? part.url}</a>{part.mediaType != null && <span className="muted"> ({part.mediaType})</span>}</p>
        : <p className="part-link"><code>{part.url}</code></p>
  }
}

/**
 * A file carried in the task: a download link (an object URL of a Blob of its bytes, with the
 * file's name), and the image itself when it is one. Each URL lives exactly as long as the
 * element showing it: it is made when the element is attached and revoked when it goes.
 */
function FilePart ({ part }: { part: Extract<PartView, { kind: 'file' }> }): ReactNode {
  const blob = useMemo(() => toBlob(part.raw, blobType(part.mediaType)), [part.raw, part.mediaType])
  const withUrl = useCallback((element: HTMLAnchorElement | HTMLImageElement | null) => {
    if (element == null || blob == null) return
    const url = URL.createObjectURL(blob)
    if (element instanceof HTMLImageElement) element.src = url
    else element.href = url
    return () => { URL.revokeObjectURL(url) }
  }, [blob])
  const description = `${part.mediaType}, ${formatBytes(part.size)}`
  return (
    <figure className="part-file" data-testid="file-part" data-filename={part.filename} data-media-type={part.mediaType}>
      {part.image && blob != null && <img ref={withUrl} alt={part.filename} data-testid="file-preview" />}
      <figcaption>
        {blob == null
          ? <span>{part.filename}</span>
          : <a ref={withUrl} download={part.filename} type={part.mediaType} aria-label={`Download ${part.filename} (${description})`}>{part.filename}</a>}
        <span className="muted"> · {description}</span>
      </figcaption>
    </figure>
  )
}

/** The bytes of a base64 string as a Blob, or undefined when it is not base64 after all. */
function toBlob (base64: string, type: string): Blob | undefined {
  try {
    return new Blob([base64ToBytes(base64) as Uint8Array<ArrayBuffer>], { type })
  } catch {
    return undefined
  }
}
