/**
 * A QR code of `text` as an SVG data URL, for an <img>. The encoder (`qrcode`) loads only when a
 * code is first shown: most visits never draw one.
 */
import { useEffect, useState } from 'react'
import { errorMessage } from '../../core/errors.js'

export interface QrCode {
  /** The image's data URL, once drawn. */
  src?: string
  error?: string
}

/** `level`: error correction; M for links people may scan from a screen at an angle, L for the longest texts. */
export function useQrCode (text: string, level: 'L' | 'M' = 'M'): QrCode {
  const [code, setCode] = useState<QrCode>({})
  useEffect(() => {
    let current = true
    import('qrcode')
      .then(async ({ toString }) => await toString(text, { type: 'svg', errorCorrectionLevel: level, margin: 2 }))
      .then((svg) => { if (current) setCode({ src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}` }) })
      .catch((err: unknown) => { if (current) setCode({ error: `no QR code: ${errorMessage(err)}` }) })
    return () => { current = false }
  }, [text, level])
  return code
}
