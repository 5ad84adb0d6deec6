/**
 * Copying a text to the clipboard from a button: whether it worked, for the button's label, or
 * failed (a page without clipboard access), for a hint to select the text instead.
 */
import { useState } from 'react'

export type CopyState = 'copied' | 'failed' | undefined

export function useCopy (text: string): { state: CopyState, copy: () => void } {
  const [state, setState] = useState<CopyState>()
  const copy = (): void => {
    navigator.clipboard.writeText(text).then(() => { setState('copied') }, () => { setState('failed') })
  }
  return { state, copy }
}
