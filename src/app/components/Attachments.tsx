import { useId, useState } from 'react'
import type { ChangeEvent, ReactNode } from 'react'
import { formatBytes } from '../../core/a2a/parts.js'
import { attachmentProblem } from '../model/tasks.js'

export interface Attachments {
  files: File[]
  /** Why the last files picked were refused (too large), if they were. */
  problem?: string
  add: (picked: File[]) => void
  remove: (index: number) => void
  clear: () => void
}

/** Files attached to a message being written. Files over the limits are refused as they are picked. */
export function useAttachments (): Attachments {
  const [files, setFiles] = useState<File[]>([])
  const [problem, setProblem] = useState<string>()
  return {
    files,
    problem,
    add: (picked) => {
      const next = [...files]
      const refused: string[] = []
      for (const file of picked) {
        const why = attachmentProblem(file, next)
        if (why == null) next.push(file)
        else refused.push(why)
      }
      setFiles(next)
      setProblem(refused.length > 0 ? `Not attached: ${refused.join(' ')}` : undefined)
    },
    remove: (index) => {
      setFiles(files.filter((_, i) => i !== index))
      setProblem(undefined)
    },
    clear: () => {
      setFiles([])
      setProblem(undefined)
    }
  }
}

/** A file picker (several at once) with the files attached so far, each removable. */
export function AttachmentPicker ({ attachments, disabled = false }: { attachments: Attachments, disabled?: boolean }): ReactNode {
  const id = useId()
  const onChange = (event: ChangeEvent<HTMLInputElement>): void => {
    attachments.add([...(event.target.files ?? [])])
    // the same file can be picked again after it was removed
    event.target.value = ''
  }
  return (
    <div className="attachments">
      <label htmlFor={id}>Attach files</label>
      <input id={id} type="file" multiple onChange={onChange} disabled={disabled} />
      {attachments.files.length > 0 && (
        <ul className="attached" aria-label="Attached files">
          {attachments.files.map((file, i) => (
            <li key={`${i}:${file.name}`} data-testid="attached-file">
              <span>{file.name}</span> <span className="muted">{formatBytes(file.size)}</span>
              <button type="button" className="secondary small" onClick={() => { attachments.remove(i) }} disabled={disabled}
                aria-label={`Remove ${file.name}`}>×</button>
            </li>
          ))}
        </ul>
      )}
      {attachments.problem != null && <p role="alert" className="error" data-testid="attachment-problem">{attachments.problem}</p>}
    </div>
  )
}
